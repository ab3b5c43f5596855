use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("model file {path}: {message}")]
    Model { path: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("image {path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("image buffer of {len} bytes does not hold {width}x{height} RGB pixels")]
    BadBuffer { width: u32, height: u32, len: usize },
    #[error("crop {crop:?} lies outside the {width}x{height} image")]
    BadCrop { crop: crate::Crop, width: u32, height: u32 },
    #[error("invalid settings: {}", .0.join("; "))]
    Settings(Vec<String>),
    #[error("embedding has {got} values, expected {expected}")]
    Dimension { got: usize, expected: usize },
    #[error("stored local features are unreadable: {0}")]
    FeatureBytes(String),
}
