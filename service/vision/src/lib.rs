//! Product recognition: image preprocessing, the tract image-embedding model, nearest-neighbour
//! matching against enrolled references, reading printed text (OCR) and matching it against what
//! products print, local features verified under a homography, and the tracker that turns
//! per-frame decisions into a stable "product in view" state. Knows nothing of GStreamer, tokio
//! or MQTT.

mod backdrop;
mod barcode;
mod embedder;
mod error;
mod finder;
mod fusion;
mod gallery;
mod image;
mod keypoints;
mod ocr;
mod palm;
mod scene;
mod text_match;
mod tracker;
mod windows;

pub use backdrop::product_bounds;
pub use barcode::{Barcode, BarcodeReader};
pub use embedder::{
    EMBEDDING_DIM, Embedder, Embedding, FEATURE_GRID, FeatureMap, INPUT_SIZE, Inference, ModelInfo, model_identity,
};
pub use error::VisionError;
pub use finder::{
    EnrolledPhoto, Enrollment, Finder, Finding, RECOMMENDED_RULE, Region, SAME_VIEW, Strategy, ZOOMED_OUT,
    diverse_views, rank_regions, sharpness,
};
pub use fusion::{Evidence, ShapeMatch, ShapeRule, Signal};
pub use gallery::{Candidate, Decision, DecisionRule, Gallery};
pub use image::{Crop, MAX_DECODED_PIXELS, RgbImage, RgbView, decode_image, image_dimensions, load_image};
pub use keypoints::{FeatureOptions, GeometricMatch, Homography, Keypoint, LocalFeatures, verify};
pub use ocr::{
    CLASSIFIER_FILE, DETECTOR_FILE, ModelInput, OcrModel, RECOGNISER_FILE, TextLine, TextReader, TextReaderConfig,
    TextReading,
};
pub use palm::{
    BoundingBox, DEFAULT_MIN_PALM_SCORE, PALM_INPUT_SIZE, PALM_KEYPOINTS, Palm, PalmDetector, PalmInference, Point,
};
pub use scene::SceneSignature;
pub use text_match::{TextCandidate, TextEvidence, TextIndex, TextMatch, TextRule, TextSource};
pub use tracker::{Tracker, TrackerConfig, TrackerEvent};
pub use windows::{CellWindow, Proposal, cell_windows, overlap};
