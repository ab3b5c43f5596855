use crate::yaml::Location;

/// One thing wrong with a catalog file: where, which field, what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// Field path like `products[2].price.amount` (empty for the document itself).
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(at: Location, path: &str, message: String) -> Self {
        Self { line: at.line, column: at.column, path: path.to_owned(), message }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store holds schema version {found}, this Cuebox reads version {expected}")]
    Schema { found: u32, expected: u32 },
    #[error("store record {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
    #[error("no product with sku {0:?} in the catalog")]
    UnknownSku(String),
    #[error("no catalog has been imported yet")]
    NoCatalog,
}

impl StoreError {
    /// Whether the store's files are damaged (as opposed to in use, unreadable for want of
    /// permission, or written by another version): such a store cannot be opened again as it is.
    pub fn is_damage(&self) -> bool {
        // `Unsupported` is what sled says of a settings file it cannot read at all: this store
        // was made by this program, so such a file is damaged too.
        let sled_damage = |e: &sled::Error| match e {
            sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) | sled::Error::Unsupported(_) => true,
            sled::Error::Io(io) => {
                matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData)
            }
            _ => false,
        };
        match self {
            StoreError::Open { source, .. } | StoreError::Sled(source) => sled_damage(source),
            StoreError::Corrupt { .. } => true,
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TextEmbeddingError {
    #[error("text embedding model file {path}: {message}")]
    Model { path: std::path::PathBuf, message: String },
    #[error("text embedding inference: {0}")]
    Inference(String),
    /// Building an index was given up because the embedder was asked to stop.
    #[error("stopped before the FAQ's texts were all embedded")]
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum FaqError {
    #[error("FAQ semantic retrieval: {0}")]
    Embedding(#[from] TextEmbeddingError),
}
