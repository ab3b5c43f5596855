use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::{Crop, RgbView, VisionError};

mod direct_conv;

pub(crate) use direct_conv::replace_direct_convolutions;

/// Side of the square model input.
pub const INPUT_SIZE: usize = 224;
/// Length of the pooled feature vector used as the embedding.
pub const EMBEDDING_DIM: usize = 1280;
const LOGITS: usize = 1000;
const PIXEL_MEAN: f32 = 127.0;
const PIXEL_SCALE: f32 = 128.0;

/// How a crop becomes the model's input; part of the model's identity, as embeddings made
/// with another preprocessing are not comparable.
const PREPROCESSING: &str = "RGB, area-resampled to 224x224, (v - 127) / 128";
/// The model's last feature map before its global pooling: run over a whole frame, its cells
/// pooled over a window give that window's embedding without running the model again.
const FEATURE_MAP_OUTPUT: &str = "_conv_head_relu6";
/// The pixels of a model cell (the network's total stride).
const CELL: usize = 32;
/// The whole frame is stretched to this grid of cells for the feature map (384x288 pixels).
pub const FEATURE_GRID: (usize, usize) = (12, 9);

/// What was loaded: enrolled embeddings are only comparable under the same model.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub name: String,
    /// The sha256 of the model file and of the preprocessing its input gets (see
    /// [`model_identity`]): references enrolled under another identity are not comparable.
    pub identity: String,
    pub load_ms: f64,
}

/// An L2-normalised embedding; the dot product of two is their cosine similarity.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    pub fn from_raw(values: Vec<f32>) -> Result<Self, VisionError> {
        if values.len() != EMBEDDING_DIM {
            return Err(VisionError::Dimension { got: values.len(), expected: EMBEDDING_DIM });
        }
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(VisionError::Inference("embedding has no direction (zero or non-finite norm)".into()));
        }
        Ok(Self(values.into_iter().map(|v| v / norm).collect()))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }
}

/// Both heads of one forward pass.
#[derive(Clone, Debug)]
pub struct Inference {
    pub embedding: Embedding,
    /// ImageNet-1k class scores (before softmax).
    pub logits: Vec<f32>,
}

/// The image-embedding model, loaded and optimised once, shared cheaply across threads.
#[derive(Clone)]
pub struct Embedder {
    /// Both heads, for [`Embedder::infer`].
    plan: Arc<TypedRunnableModel>,
    /// The same optimised graph without the ImageNet classifier, which recognition never reads.
    embedding_plan: Arc<TypedRunnableModel>,
    /// The feature map over a whole frame and the pooled features to subtract, for models
    /// that have the output [`FEATURE_MAP_OUTPUT`].
    feature_map: Option<Arc<FeatureMapPlan>>,
    info: Arc<ModelInfo>,
}

struct FeatureMapPlan {
    plan: Arc<TypedRunnableModel>,
    /// What the model subtracts from the pooled features to make its embedding.
    feature_mean: Vec<f32>,
}

/// The model's feature map over a whole frame: `rows` x `columns` cells, each
/// [`EMBEDDING_DIM`] features (cell-major), and the model's feature mean. A window's
/// embedding is the mean of the cells under it less the feature mean.
#[derive(Clone, Debug)]
pub struct FeatureMap {
    pub rows: usize,
    pub columns: usize,
    pub cells: Vec<f32>,
    pub feature_mean: Arc<[f32]>,
}

/// The identity of a model file, as [`ModelInfo::identity`] gives it once loaded, without loading it.
pub fn model_identity(path: &Path) -> Result<String, VisionError> {
    let bytes =
        std::fs::read(path).map_err(|e| VisionError::Model { path: path.to_owned(), message: e.to_string() })?;
    Ok(identity(&bytes))
}

/// The sha256 of the model file's bytes, a zero byte and [`PREPROCESSING`].
fn identity(model: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model);
    hasher.update([0]);
    hasher.update(PREPROCESSING.as_bytes());
    hex(&hasher.finalize())
}

impl Embedder {
    pub fn load(path: &Path) -> Result<Self, VisionError> {
        let started = Instant::now();
        let model_error = |message: String| VisionError::Model { path: path.to_owned(), message };
        let bytes = std::fs::read(path).map_err(|e| model_error(e.to_string()))?;
        let identity = identity(&bytes);
        let optimized = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, INPUT_SIZE, INPUT_SIZE]).into()))
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .and_then(replace_direct_convolutions)
            .and_then(|m| m.into_optimized())
            .map_err(|e| model_error(format!("{e:#}")))?;
        if optimized.outputs.len() != 2 {
            return Err(model_error(format!(
                "expected 2 outputs (embedding, logits), found {}",
                optimized.outputs.len()
            )));
        }
        let first_output = optimized.outputs.first().copied().ok_or_else(|| model_error("no output".into()))?;
        let mut embedding_only = optimized.clone();
        let plans = embedding_only
            .select_output_outlets(&[first_output])
            .and_then(|()| Ok((optimized.into_runnable()?, embedding_only.into_runnable()?)))
            .map_err(|e| model_error(format!("{e:#}")))?;
        let feature_map = feature_map_plan(&bytes).map_err(|e| model_error(format!("{e:#}")))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let info = ModelInfo { name, identity, load_ms: started.elapsed().as_secs_f64() * 1e3 };
        let embedder = Self {
            plan: plans.0,
            embedding_plan: plans.1,
            feature_map: feature_map.map(Arc::new),
            info: Arc::new(info),
        };
        let probe = vec![127u8; 32 * 32 * 3];
        let view = RgbView::new(32, 32, &probe)?;
        embedder.infer(view, view.full()).map_err(|e| model_error(format!("does not run: {e}")))?;
        Ok(embedder)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The embedding and the ImageNet class scores of `crop`.
    pub fn infer(&self, view: RgbView<'_>, crop: Crop) -> Result<Inference, VisionError> {
        let outputs = run(&self.plan, view, crop)?;
        Ok(Inference {
            embedding: Embedding::from_raw(read(&outputs, 0, EMBEDDING_DIM)?)?,
            logits: read(&outputs, 1, LOGITS)?,
        })
    }

    /// The embedding of `crop`, resampled to the model's square input.
    pub fn embed(&self, view: RgbView<'_>, crop: Crop) -> Result<Embedding, VisionError> {
        let outputs = run(&self.embedding_plan, view, crop)?;
        Embedding::from_raw(read(&outputs, 0, EMBEDDING_DIM)?)
    }

    /// Whether [`Embedder::feature_map`] is available (the model has a feature map to pool).
    pub fn has_feature_map(&self) -> bool {
        self.feature_map.is_some()
    }

    /// The feature map of the whole frame stretched to [`FEATURE_GRID`]; `None` for a model
    /// without one.
    #[expect(
        clippy::indexing_slicing,
        reason = "read() checked that planar holds EMBEDDING_DIM planes of rows * columns cells, the size of cell_major"
    )]
    pub fn feature_map(&self, view: RgbView<'_>) -> Result<Option<FeatureMap>, VisionError> {
        let Some(dense) = &self.feature_map else { return Ok(None) };
        let inference_error = |e: TractError| VisionError::Inference(format!("{e:#}"));
        let (columns, rows) = FEATURE_GRID;
        let (width, height) = (columns * CELL, rows * CELL);
        let mut input = Tensor::zero::<f32>(&[1, 3, height, width]).map_err(inference_error)?;
        {
            let mut values = input.try_as_plain_ram_mut().map_err(inference_error)?;
            let values = values.as_slice_mut::<f32>().map_err(inference_error)?;
            view.resample_normalized_to(view.full(), (width, height), PIXEL_MEAN, PIXEL_SCALE, values)?;
        }
        let outputs = dense.plan.run(tvec!(input.into())).map_err(inference_error)?;
        let planar = read(&outputs, 0, EMBEDDING_DIM * rows * columns)?;
        let cells = rows * columns;
        let mut cell_major = vec![0f32; planar.len()];
        for (channel, plane) in planar.chunks_exact(cells).enumerate() {
            for (cell, &value) in plane.iter().enumerate() {
                cell_major[cell * EMBEDDING_DIM + channel] = value;
            }
        }
        Ok(Some(FeatureMap { rows, columns, cells: cell_major, feature_mean: dense.feature_mean.clone().into() }))
    }
}

/// The plan for [`Embedder::feature_map`], with the feature mean the model subtracts (its
/// pooled features less its embedding, read off one run); `None` when the model has no
/// [`FEATURE_MAP_OUTPUT`].
fn feature_map_plan(bytes: &[u8]) -> TractResult<Option<FeatureMapPlan>> {
    let model = tract_onnx::onnx().model_for_read(&mut &bytes[..])?;
    let Ok(model) = model.with_outputs_by_name([FEATURE_MAP_OUTPUT, "embedding"]) else { return Ok(None) };
    let (columns, rows) = FEATURE_GRID;
    let plan = model
        .with_input_fact(0, f32::fact([1, 3, rows * CELL, columns * CELL]).into())?
        .into_typed()?
        .into_decluttered()
        .and_then(replace_direct_convolutions)?
        .into_optimized()?
        .into_runnable()?;
    let probe = Tensor::zero::<f32>(&[1, 3, rows * CELL, columns * CELL])?;
    let outputs = plan.run(tvec!(probe.into()))?;
    let (Some(map), Some(embedding)) = (outputs.first(), outputs.get(1)) else {
        return Err(TractError::msg("expected two outputs"));
    };
    let map = map.to_plain_array_view::<f32>()?;
    let embedding = embedding.to_plain_array_view::<f32>()?;
    let cells = (rows * columns) as f32;
    let map: Vec<f32> = map.iter().copied().collect();
    let feature_mean = map
        .chunks_exact(rows * columns)
        .zip(embedding.iter())
        .map(|(plane, embedded)| plane.iter().sum::<f32>() / cells - embedded)
        .collect::<Vec<f32>>();
    if feature_mean.len() != EMBEDDING_DIM {
        return Err(TractError::msg(format!(
            "the feature map has {} channels, expected {EMBEDDING_DIM}",
            feature_mean.len()
        )));
    }
    Ok(Some(FeatureMapPlan { plan, feature_mean }))
}

fn run(plan: &Arc<TypedRunnableModel>, view: RgbView<'_>, crop: Crop) -> Result<TVec<TValue>, VisionError> {
    let inference_error = |e: TractError| VisionError::Inference(format!("{e:#}"));
    let mut input = Tensor::zero::<f32>(&[1, 3, INPUT_SIZE, INPUT_SIZE]).map_err(inference_error)?;
    {
        let mut values = input.try_as_plain_ram_mut().map_err(inference_error)?;
        let values = values.as_slice_mut::<f32>().map_err(inference_error)?;
        view.resample_normalized(crop, INPUT_SIZE, PIXEL_MEAN, PIXEL_SCALE, values)?;
    }
    plan.run(tvec!(input.into())).map_err(inference_error)
}

fn read(outputs: &[TValue], index: usize, expected: usize) -> Result<Vec<f32>, VisionError> {
    let output =
        outputs.get(index).ok_or_else(|| VisionError::Inference(format!("the model has no output {index}")))?;
    let values: Vec<f32> = output
        .to_plain_array_view::<f32>()
        .map_err(|e| VisionError::Inference(e.to_string()))?
        .iter()
        .copied()
        .collect();
    if values.len() != expected {
        return Err(VisionError::Dimension { got: values.len(), expected });
    }
    Ok(values)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_is_normalised_and_cosine_is_dot() {
        let mut raw = vec![0.0; EMBEDDING_DIM];
        raw[0] = 3.0;
        raw[1] = 4.0;
        let a = Embedding::from_raw(raw).unwrap();
        assert!((a.as_slice()[0] - 0.6).abs() < 1e-6 && (a.as_slice()[1] - 0.8).abs() < 1e-6);
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn embedding_of_wrong_length_or_zero_is_refused() {
        assert!(matches!(Embedding::from_raw(vec![1.0; 3]), Err(VisionError::Dimension { .. })));
        assert!(Embedding::from_raw(vec![0.0; EMBEDDING_DIM]).is_err());
    }

    #[test]
    fn missing_model_file_names_the_path() {
        let err = Embedder::load(Path::new("/nonexistent/model.onnx")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    }
}
