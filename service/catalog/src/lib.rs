//! The catalog: the contract's catalog file format (YAML or JSON) parsed with every problem
//! located, the sled store holding products, cue cards, FAQ and reference embeddings with
//! all-or-nothing imports, and cue variant rotation; the compliance and completeness lint and
//! generated cue cards. Knows nothing of GStreamer or MQTT.

mod error;
mod export;
mod faq;
mod generate;
mod lint;
mod model;
mod parse;
mod store;
mod text_embedding;
mod tokenizer;
mod yaml;

use std::path::Path;

use sha2::{Digest, Sha256};

pub use error::{FaqError, TextEmbeddingError};
pub use error::{Problem, StoreError};
pub use export::to_yaml;
pub use faq::{
    Answer, FaqIndex, HYBRID_CROSS_MIN_SCORE, HYBRID_MIN_SCORE, LEXICAL_MIN_SCORE, Language, NEAR_DUPLICATE_SIMILARITY,
    QuestionKey, near_duplicate,
};
pub use generate::{
    AddedCard, CUE_NEAR_DUPLICATE, CardKind, GenerateReport, ProductReport, generate_cards, text_similarity,
};
pub use lint::{
    Category, Finding, Severity, Term, TermHit, TermList, lint_catalog, lint_parsed, lint_source, lint_text,
};
pub use model::{Catalog, CueCard, FaqEntry, Price, Product, Text};
pub use parse::{ImageRef, Locations, Parsed, is_identifier, is_locale, parse_catalog};
pub use store::{
    CatalogHeader, ImportOutcome, MAX_SUGGESTIONS, Reference, SCHEMA_VERSION, Store, StudioPhase, StudioRecording,
    StudioView, Suggestion,
};
pub use text_embedding::{TEXT_EMBEDDING_DIM, TEXT_MODEL_FILE, TEXT_TABLE_FILE, TEXT_TOKENIZER_FILE, TextEmbedder};
pub use tokenizer::Tokenizer;
pub use yaml::Location;

impl Parsed {
    /// Makes every image path absolute, relative to the catalog file's folder.
    pub fn resolve_images(&mut self, base: &Path) {
        let resolve = |written: &str| base.join(written).to_string_lossy().into_owned();
        for image in &mut self.images {
            image.path = resolve(&image.written);
        }
        for product in &mut self.catalog.products {
            for image in &mut product.images {
                *image = resolve(image);
            }
        }
    }
}

/// Identifies an import: the embedding model its photos are enrolled with (so that importing the
/// same file under a new model enrolls its photos again), the catalog text and the bytes of every
/// photo it names, in order.
pub fn import_digest<'a>(model: &str, text: &str, photos: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut digest = ImportDigest::new(model, text);
    for photo in photos {
        digest.photo(photo);
    }
    digest.finish()
}

/// [`import_digest`] made one photo at a time, so that no photo needs to stay in memory.
pub struct ImportDigest(Sha256);

impl ImportDigest {
    pub fn new(model: &str, text: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update((model.len() as u64).to_be_bytes());
        hasher.update(model.as_bytes());
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
        Self(hasher)
    }

    pub fn photo(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        self.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_changes_with_model_text_or_any_photo() {
        let a = import_digest("m", "x", [b"1".as_slice(), b"2"]);
        assert_eq!(a, import_digest("m", "x", [b"1".as_slice(), b"2"]));
        assert_ne!(a, import_digest("n", "x", [b"1".as_slice(), b"2"]));
        assert_ne!(a, import_digest("m", "x", [b"1".as_slice(), b"3"]));
        assert_ne!(a, import_digest("m", "y", [b"1".as_slice(), b"2"]));
        assert_ne!(import_digest("m", "x1", []), import_digest("m", "x", [b"1".as_slice()]));
        assert_ne!(import_digest("mx", "", []), import_digest("m", "x", []));
    }

    #[test]
    fn relative_images_resolve_against_the_catalog_folder() {
        let mut parsed =
            parse_catalog("version: 1\nproducts: [{sku: A, name: a, images: [p/a.jpg, /abs/b.jpg]}]").unwrap();
        parsed.resolve_images(Path::new("/srv/catalog"));
        assert_eq!(parsed.catalog.products[0].images, vec!["/srv/catalog/p/a.jpg", "/abs/b.jpg"]);
        assert_eq!(parsed.images[1].path, "/abs/b.jpg");
    }
}
