//! The enrolled references in use, as recognition compares frames with them: the image
//! references, the local features and text of the reference photos, what the catalog calls each
//! product (names in every locale, brand, barcodes), and the studio's calibration. Replaced as a
//! whole when the catalog, an enrollment or the studio's calibration changes.

use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;
use cuebox_catalog::Store;
use cuebox_vision::{Embedder, Embedding, Gallery, LocalFeatures, TextIndex, TextSource};

#[derive(Clone, Default)]
pub struct SharedGallery(Arc<RwLock<Arc<Gallery>>>);

impl SharedGallery {
    pub fn current(&self) -> Arc<Gallery> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, gallery: Gallery) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(gallery);
    }

    /// Loads the references of the active catalog that were enrolled with this model, and the
    /// studio's calibration made with it.
    pub fn reload(&self, store: &Store, embedder: &Embedder) -> anyhow::Result<()> {
        let identity = &embedder.info().identity;
        let mut gallery = Gallery::default();
        let mut text: Vec<(String, TextSource, String)> = Vec::new();
        let mut other_model = 0usize;
        for reference in store.references().context("reading enrolled references")? {
            if &reference.model != identity {
                other_model += 1;
                continue;
            }
            if !reference.features.is_empty() {
                match LocalFeatures::from_bytes(&reference.features) {
                    Ok(features) => gallery.add_shape(reference.sku.clone(), features),
                    Err(error) => tracing::warn!(sku = %reference.sku, %error, "unusable local features skipped"),
                }
            }
            text.extend(reference.text.iter().map(|line| (reference.sku.clone(), TextSource::Photo, line.clone())));
            match Embedding::from_raw(reference.vector) {
                Ok(e) => gallery.add(reference.sku, e),
                Err(error) => tracing::warn!(sku = %reference.sku, %error, "unusable reference skipped"),
            }
        }
        for product in store.products().context("reading the catalog")? {
            let names = product.name.0.values().flatten();
            text.extend(names.map(|name| (product.sku.clone(), TextSource::Name, name.clone())));
            text.extend(product.brand.iter().map(|brand| (product.sku.clone(), TextSource::Brand, brand.clone())));
            text.extend(product.barcodes.iter().map(|code| (product.sku.clone(), TextSource::Barcode, code.clone())));
        }
        gallery.set_text(TextIndex::new(text));
        if let Some(view) = store.studio_view(identity).context("reading the studio's calibration")? {
            let embeddings: Vec<Embedding> =
                view.embeddings().filter_map(|values| Embedding::from_raw(values.clone()).ok()).collect();
            gallery.set_studio(&embeddings);
        }
        if other_model > 0 {
            tracing::warn!(
                other_model,
                "references enrolled with another model are ignored; import the catalog again to re-enroll"
            );
        }
        tracing::info!(
            references = gallery.len(),
            products = gallery.products(),
            studio = gallery.studio_len(),
            "gallery loaded"
        );
        self.replace(gallery);
        Ok(())
    }
}
