//! The catalog in sled. Each import writes a new generation beside the active one and then
//! switches a single `active` key, so a crash at any moment leaves the old catalog or the new
//! one, never a mix; rows of other generations are removed on open.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Catalog, FaqEntry, Product, StoreError};

mod studio;

pub use studio::{MAX_SUGGESTIONS, StudioPhase, StudioRecording, StudioView, Suggestion};

pub const SCHEMA_VERSION: u32 = 1;
/// The catalog is small; sled's default page cache (1 GiB) is not for an appliance.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
const ACTIVE: &[u8] = b"active";
const SCHEMA: &[u8] = b"schema";
const GENERATION: u8 = b'g';
const HEADER: u8 = b'h';
const PRODUCT: u8 = b'p';
const FAQ: u8 = b'f';
const REFERENCE: u8 = b'e';

/// An enrolled reference embedding of a product.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub sku: String,
    /// Identifies the embedding model and its preprocessing (`cuebox_vision::ModelInfo::identity`).
    pub model: String,
    /// Where it came from (photo path, or "camera").
    pub origin: String,
    pub vector: Vec<f32>,
    /// A small JPEG of what was enrolled, for people to look at (may be empty).
    pub thumbnail: Vec<u8>,
    /// The lines of text read on the photo at enrollment (empty when none, or not read).
    pub text: Vec<String>,
    /// The photo's local features for geometric verification, as `cuebox_vision` encodes them
    /// (empty when none).
    pub features: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct ReferenceMeta {
    model: String,
    origin: String,
    dimensions: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    text: Vec<String>,
    /// Bytes of local features between the vector and the thumbnail.
    #[serde(default, skip_serializing_if = "is_zero")]
    features: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// What describes the active catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogHeader {
    pub generation: u64,
    pub version: u32,
    pub default_locale: String,
    /// Digest of the imported file and its photos.
    pub digest: String,
    pub file: String,
    pub imported_at_ms: u64,
    pub products: usize,
    pub references: usize,
    /// The catalog's banned words (none in stores written before they existed).
    #[serde(default)]
    pub banned_words: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportOutcome {
    /// The same file (and photos) is already the active catalog: nothing was written.
    Unchanged(CatalogHeader),
    Imported(CatalogHeader),
}

pub struct Store {
    db: sled::Db,
    catalog: sled::Tree,
    cues: sled::Tree,
    history: sled::Tree,
    studio: sled::Tree,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = open_db(path).map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        let store = Self {
            catalog: db.open_tree("catalog")?,
            cues: db.open_tree("cues")?,
            history: db.open_tree("history")?,
            studio: db.open_tree("studio")?,
            db,
        };
        match store.catalog.get(SCHEMA)? {
            None => {
                store.catalog.insert(SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { found, expected: SCHEMA_VERSION });
                }
            }
        }
        store.remove_inactive_generations()?;
        Ok(store)
    }

    fn active_generation(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.catalog.get(ACTIVE)?.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    fn remove_inactive_generations(&self) -> Result<(), StoreError> {
        let active = self.active_generation()?;
        let mut batch = sled::Batch::default();
        let mut stale = 0usize;
        for key in self.catalog.scan_prefix([GENERATION]).keys() {
            let key = key?;
            if generation_of(&key) != active {
                batch.remove(key);
                stale += 1;
            }
        }
        if stale > 0 {
            self.catalog.apply_batch(batch)?;
            self.db.flush()?;
            tracing::info!(rows = stale, "removed rows of an unfinished or replaced import");
        }
        Ok(())
    }

    pub fn header(&self) -> Result<Option<CatalogHeader>, StoreError> {
        let Some(generation) = self.active_generation()? else { return Ok(None) };
        self.get_json(&key(generation, HEADER, b""))
    }

    /// Replaces the active catalog with `catalog` and its reference embeddings, all or nothing.
    pub fn import(
        &self,
        catalog: &Catalog,
        references: &[Reference],
        digest: &str,
        file: &str,
    ) -> Result<ImportOutcome, StoreError> {
        if let Some(header) = self.header()?
            && header.digest == digest
        {
            return Ok(ImportOutcome::Unchanged(header));
        }
        let previous = self.active_generation()?;
        let generation = previous.map_or(1, |g| g + 1);
        let header = CatalogHeader {
            generation,
            version: catalog.version,
            default_locale: catalog.default_locale.clone(),
            digest: digest.to_owned(),
            file: file.to_owned(),
            imported_at_ms: now_ms(),
            products: catalog.products.len(),
            references: references.len(),
            banned_words: catalog.banned_words.clone(),
        };
        let mut batch = sled::Batch::default();
        batch.insert(key(generation, HEADER, b""), to_json(&header));
        for product in &catalog.products {
            batch.insert(key(generation, PRODUCT, product.sku.as_bytes()), to_json(product));
        }
        for entry in &catalog.faq {
            batch.insert(key(generation, FAQ, entry.id.as_bytes()), to_json(entry));
        }
        for (index, reference) in references.iter().enumerate() {
            batch.insert(reference_key(generation, &reference.sku, index as u32), encode_reference(reference));
        }
        self.catalog.apply_batch(batch)?;
        self.db.flush()?;
        self.catalog.insert(ACTIVE, &generation.to_be_bytes())?;
        self.history.insert(generation.to_be_bytes(), to_json(&header))?;
        self.db.flush()?;
        self.remove_inactive_generations()?;
        Ok(ImportOutcome::Imported(header))
    }

    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        let Some(generation) = self.active_generation()? else { return Ok(Vec::new()) };
        self.scan_json(&key(generation, PRODUCT, b""))
    }

    pub fn product(&self, sku: &str) -> Result<Option<Product>, StoreError> {
        let Some(generation) = self.active_generation()? else { return Ok(None) };
        self.get_json(&key(generation, PRODUCT, sku.as_bytes()))
    }

    /// The studio-wide FAQ (product FAQs live in their products).
    pub fn studio_faq(&self) -> Result<Vec<FaqEntry>, StoreError> {
        let Some(generation) = self.active_generation()? else { return Ok(Vec::new()) };
        self.scan_json(&key(generation, FAQ, b""))
    }

    /// The whole active catalog, as it was imported.
    pub fn export(&self) -> Result<Option<Catalog>, StoreError> {
        let Some(header) = self.header()? else { return Ok(None) };
        Ok(Some(Catalog {
            version: header.version,
            default_locale: header.default_locale,
            faq: self.studio_faq()?,
            products: self.products()?,
            banned_words: header.banned_words,
        }))
    }

    pub fn references(&self) -> Result<Vec<Reference>, StoreError> {
        let Some(generation) = self.active_generation()? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for item in self.catalog.scan_prefix(key(generation, REFERENCE, b"")) {
            let (k, v) = item?;
            let corrupt = |message: String| StoreError::Corrupt { key: printable(&k), message };
            let sku = k.get(10..k.len().saturating_sub(5)).ok_or_else(|| corrupt("a key too short".into()))?;
            let sku = String::from_utf8_lossy(sku).into_owned();
            out.push(decode_reference(sku, &v).map_err(corrupt)?);
        }
        Ok(out)
    }

    /// Adds reference embeddings to a product of the active catalog (replacing its existing
    /// ones if asked); returns how many the product has now.
    pub fn enroll(&self, sku: &str, references: &[Reference], replace: bool) -> Result<usize, StoreError> {
        let generation = self.active_generation()?.ok_or(StoreError::NoCatalog)?;
        if self.product(sku)?.is_none() {
            return Err(StoreError::UnknownSku(sku.to_owned()));
        }
        let prefix = reference_prefix(generation, sku);
        let mut batch = sled::Batch::default();
        let mut next = 0u32;
        for k in self.catalog.scan_prefix(&prefix).keys() {
            let k = k?;
            if replace {
                batch.remove(k);
            } else {
                next = next.max(index_of(&k) + 1);
            }
        }
        for (offset, reference) in references.iter().enumerate() {
            batch.insert(reference_key(generation, sku, next + offset as u32), encode_reference(reference));
        }
        self.catalog.apply_batch(batch)?;
        self.db.flush()?;
        Ok(self.catalog.scan_prefix(&prefix).count())
    }

    /// The next variant of a cue card, rotating so that none repeats until all were used;
    /// remembered across restarts.
    pub fn next_variant(&self, sku: &str, card: &str, variants: usize) -> Result<usize, StoreError> {
        if variants <= 1 {
            return Ok(0);
        }
        let key = format!("{sku}\0{card}");
        let mut chosen = 0;
        self.cues.fetch_and_update(key.as_bytes(), |old| {
            let last = old.and_then(|v| v.try_into().ok().map(u32::from_be_bytes));
            chosen = last.map_or(0, |l| (l as usize + 1) % variants);
            Some((chosen as u32).to_be_bytes().to_vec())
        })?;
        Ok(chosen)
    }

    pub fn history(&self) -> Result<Vec<CatalogHeader>, StoreError> {
        self.history.iter().values().map(|v| from_json(&v?, "history")).collect()
    }

    /// A tree of the same database for another part of the daemon (e.g. its MQTT outbox), so
    /// that one process holds one sled instance.
    pub fn auxiliary_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(format!("aux/{name}"))?)
    }

    /// The tree that keeps the FAQ's text embeddings between index builds and restarts (see
    /// `TextEmbedder::remembering_in`).
    pub fn text_embeddings(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("text-embeddings")?)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn get_json<T: DeserializeOwned>(&self, k: &[u8]) -> Result<Option<T>, StoreError> {
        self.catalog.get(k)?.map(|v| from_json(&v, &printable(k))).transpose()
    }

    fn scan_json<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
        self.catalog
            .scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item?;
                from_json(&v, &printable(&k))
            })
            .collect()
    }
}

/// sled releases its file lock from a background thread after the last handle is dropped, so
/// a store reopened right after it was closed (a command after a daemon stops) may briefly be
/// refused: wait for it a little before giving up.
fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new().path(path).cache_capacity(CACHE_BYTES).open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn key(generation: u64, kind: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + name.len());
    k.push(GENERATION);
    k.extend_from_slice(&generation.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(name);
    k
}

fn reference_prefix(generation: u64, sku: &str) -> Vec<u8> {
    let mut k = key(generation, REFERENCE, sku.as_bytes());
    k.push(0);
    k
}

fn reference_key(generation: u64, sku: &str, index: u32) -> Vec<u8> {
    let mut k = reference_prefix(generation, sku);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn index_of(k: &[u8]) -> u32 {
    k.last_chunk().map_or(0, |b| u32::from_be_bytes(*b))
}

fn generation_of(k: &[u8]) -> Option<u64> {
    k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// `[meta length u32 BE][meta JSON][vector f32 LE...][local features][thumbnail JPEG]`
fn encode_reference(r: &Reference) -> Vec<u8> {
    let meta = to_json(&ReferenceMeta {
        model: r.model.clone(),
        origin: r.origin.clone(),
        dimensions: r.vector.len(),
        text: r.text.clone(),
        features: r.features.len(),
    });
    let mut out = Vec::with_capacity(4 + meta.len() + 4 * r.vector.len() + r.features.len() + r.thumbnail.len());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    for v in &r.vector {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&r.features);
    out.extend_from_slice(&r.thumbnail);
    out
}

fn decode_reference(sku: String, bytes: &[u8]) -> Result<Reference, String> {
    let len = bytes.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or("truncated")? as usize;
    let meta = bytes.get(4..4 + len).ok_or("truncated metadata")?;
    let meta: ReferenceMeta = serde_json::from_slice(meta).map_err(|e| e.to_string())?;
    let vector_end = 4 + len + 4 * meta.dimensions;
    let floats = bytes.get(4 + len..vector_end).ok_or("truncated vector")?;
    let vector = floats.as_chunks().0.iter().map(|c| f32::from_le_bytes(*c)).collect();
    let features_end = vector_end + meta.features;
    let features = bytes.get(vector_end..features_end).ok_or("truncated local features")?.to_vec();
    let thumbnail = bytes.get(features_end..).unwrap_or_default().to_vec();
    Ok(Reference { sku, model: meta.model, origin: meta.origin, vector, thumbnail, text: meta.text, features })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_json<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { key: key.to_owned(), message: e.to_string() })
}

fn printable(k: &[u8]) -> String {
    k.iter().map(|&b| if b.is_ascii_graphic() { (b as char).to_string() } else { format!("\\x{b:02x}") }).collect()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_catalog;

    fn catalog(names: &[&str]) -> Catalog {
        let mut text = String::from("version: 1\ndefault_locale: en\nfaq: [{id: ship, q: when, a: soon}]\nproducts:\n");
        for n in names {
            text += &format!("  - {{sku: {n}, name: {n}, script: [{{id: intro, text: [one, two, three]}}]}}\n");
        }
        parse_catalog(&text).unwrap().catalog
    }

    fn reference(sku: &str, v: f32) -> Reference {
        Reference {
            sku: sku.into(),
            model: "m".into(),
            origin: "photo.jpg".into(),
            vector: vec![v; 4],
            thumbnail: vec![0xff, 0xd8, v as u8],
            text: if v > 1.0 { vec![format!("printed {v}")] } else { Vec::new() },
            features: if v > 1.0 { vec![7, 8, v as u8] } else { Vec::new() },
        }
    }

    #[test]
    fn references_keep_their_text_and_features_and_older_records_still_read() {
        let with_all = reference("A", 3.0);
        let bytes = encode_reference(&with_all);
        assert_eq!(decode_reference("A".into(), &bytes).unwrap(), with_all);
        let older = br#"{"model":"m","origin":"photo.jpg","dimensions":1}"#;
        let mut record = (older.len() as u32).to_be_bytes().to_vec();
        record.extend_from_slice(older);
        record.extend_from_slice(&1.5f32.to_le_bytes());
        record.extend_from_slice(&[0xff, 0xd8]);
        let decoded = decode_reference("A".into(), &record).unwrap();
        assert_eq!(
            (decoded.vector, decoded.thumbnail, decoded.text.len(), decoded.features.len()),
            (vec![1.5], vec![0xff, 0xd8], 0, 0)
        );
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() - 4);
        assert!(decode_reference("A".into(), &truncated).is_err(), "features cut short are an error");
    }

    #[test]
    fn import_replaces_the_catalog_and_same_digest_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.header().unwrap().is_none());
        let first = store.import(&catalog(&["A", "B"]), &[reference("A", 1.0)], "d1", "c.yaml").unwrap();
        assert!(matches!(first, ImportOutcome::Imported(ref h) if h.generation == 1 && h.products == 2));
        assert!(matches!(
            store.import(&catalog(&["A", "B"]), &[], "d1", "c.yaml").unwrap(),
            ImportOutcome::Unchanged(_)
        ));
        store.import(&catalog(&["C"]), &[reference("C", 2.0)], "d2", "c.yaml").unwrap();
        let skus: Vec<String> = store.products().unwrap().into_iter().map(|p| p.sku).collect();
        assert_eq!(skus, vec!["C"]);
        assert_eq!(store.references().unwrap(), vec![reference("C", 2.0)]);
        assert_eq!(store.history().unwrap().len(), 2);
        assert_eq!(store.export().unwrap().unwrap(), catalog(&["C"]));
    }

    #[test]
    fn a_staged_but_unswitched_generation_is_invisible_and_cleaned_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.import(&catalog(&["A"]), &[], "d1", "c.yaml").unwrap();
            let staged = key(2, PRODUCT, b"B");
            store.catalog.insert(staged, to_json(&catalog(&["B"]).products[0])).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let skus: Vec<String> = store.products().unwrap().into_iter().map(|p| p.sku).collect();
        assert_eq!(skus, vec!["A"]);
        assert_eq!(store.catalog.scan_prefix(key(2, PRODUCT, b"")).count(), 0);
    }

    #[test]
    fn enroll_adds_or_replaces_references_of_a_known_product() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(store.enroll("A", &[reference("A", 1.0)], false), Err(StoreError::NoCatalog)));
        store.import(&catalog(&["A"]), &[reference("A", 1.0)], "d1", "c.yaml").unwrap();
        assert_eq!(store.enroll("A", &[reference("A", 2.0), reference("A", 3.0)], false).unwrap(), 3);
        assert_eq!(store.enroll("A", &[reference("A", 4.0)], true).unwrap(), 1);
        assert_eq!(store.references().unwrap(), vec![reference("A", 4.0)]);
        assert!(matches!(store.enroll("Z", &[], false), Err(StoreError::UnknownSku(_))));
    }

    #[test]
    fn variants_rotate_without_repeats_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let store = Store::open(dir.path()).unwrap();
            seen.push(store.next_variant("A", "intro", 3).unwrap());
            seen.push(store.next_variant("A", "intro", 3).unwrap());
            store.flush().unwrap();
        }
        assert_eq!(seen, vec![0, 1, 2, 0]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.next_variant("A", "other", 1).unwrap(), 0);
    }
}
