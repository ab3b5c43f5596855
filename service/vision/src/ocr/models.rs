//! Loading the three OCR models into tract, running them, and decoding the recogniser's output.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use super::{
    CLASSIFIER_FILE, CLASSIFIER_WIDTH, DETECTOR_FILE, LINE_HEIGHT, MIN_LINE_WIDTH, ModelInput, OcrModel,
    RECOGNISER_FILE,
};
use crate::VisionError;

/// The ONNX metadata entry holding the recogniser's dictionary, one character a line.
const DICTIONARY_KEY: &str = "onnx.metadata_props.character";
/// The recogniser makes one step of output per this many input columns.
const RECOGNISER_STRIDE: usize = 8;
/// Plans kept: the detector's for the latest input sizes (a deployment reads crops of one or two
/// sizes), the recogniser's for the four widths up to the default widest line (`ocr.rs`).
const DETECTOR_PLANS: usize = 3;
const RECOGNISER_PLANS: usize = 4;

pub(super) struct Models {
    detector: Model,
    classifier: Model,
    recogniser: Model,
    /// The recogniser's classes: 0 is the CTC blank, then the dictionary, then a space.
    characters: Vec<String>,
}

impl Models {
    pub fn load(folder: &Path) -> Result<Self, VisionError> {
        let (detector, _) = Model::load(&folder.join(DETECTOR_FILE), [None, None], DETECTOR_PLANS)?;
        let classifier_sides = [Some(LINE_HEIGHT), Some(CLASSIFIER_WIDTH)];
        let (classifier, _) = Model::load(&folder.join(CLASSIFIER_FILE), classifier_sides, 1)?;
        let recogniser_path = folder.join(RECOGNISER_FILE);
        let (recogniser, dictionary) = Model::load(&recogniser_path, [Some(LINE_HEIGHT), None], RECOGNISER_PLANS)?;
        let dictionary = dictionary.ok_or_else(|| VisionError::Model {
            path: recogniser_path.clone(),
            message: "has no character dictionary (ONNX metadata \"character\")".into(),
        })?;
        let characters = std::iter::once("").chain(dictionary.lines()).chain([" "]).map(str::to_owned).collect();
        let models = Self { detector, classifier, recogniser, characters };
        let probes = [
            (OcrModel::Detector, folder.join(DETECTOR_FILE), [32, 32], 32 * 32),
            (OcrModel::Classifier, folder.join(CLASSIFIER_FILE), [LINE_HEIGHT, CLASSIFIER_WIDTH], 2),
            (
                OcrModel::Recogniser,
                recogniser_path,
                [LINE_HEIGHT, MIN_LINE_WIDTH],
                MIN_LINE_WIDTH / RECOGNISER_STRIDE * models.characters.len(),
            ),
        ];
        for (model, path, [height, width], expected) in probes {
            let input = ModelInput { shape: [1, 3, height, width], values: vec![0.0; 3 * height * width] };
            let got = models.run(model, &input).map(|output| output.len());
            if got.as_ref().ok() != Some(&expected) {
                let found = got.map_or_else(|e| e.to_string(), |n| format!("{n} output values instead of {expected}"));
                return Err(VisionError::Model { path, message: format!("does not run as the {model:?}: {found}") });
            }
        }
        Ok(models)
    }

    /// The model's output on `input`, flattened.
    pub fn run(&self, model: OcrModel, input: &ModelInput) -> Result<Vec<f32>, VisionError> {
        let plan = match model {
            OcrModel::Detector => &self.detector,
            OcrModel::Classifier => &self.classifier,
            OcrModel::Recogniser => &self.recogniser,
        }
        .plan(input.shape)
        .map_err(|message| VisionError::Inference(format!("{model:?}: {message}")))?;
        let failed = |e: TractError| VisionError::Inference(format!("{model:?}: {e:#}"));
        let tensor = Tensor::from_shape(&input.shape, &input.values).map_err(failed)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(failed)?;
        let output = outputs.first().ok_or_else(|| VisionError::Inference(format!("{model:?} has no output")))?;
        Ok(output.to_plain_array_view::<f32>().map_err(failed)?.iter().copied().collect())
    }

    /// Greedy CTC decoding of the recogniser's output: the likeliest class at each step, repeats
    /// merged, blanks dropped; with the mean probability of the characters kept (0 for none).
    pub fn decode(&self, probabilities: &[f32]) -> (String, f32) {
        let classes = self.characters.len();
        let mut text = String::new();
        let (mut sum, mut count) = (0f32, 0usize);
        let mut previous = None;
        for step in probabilities.chunks_exact(classes) {
            let (best, probability) = step
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::MIN), |best, (class, p)| if p > best.1 { (class, p) } else { best });
            if best != 0 && previous != Some(best) {
                text.push_str(self.characters.get(best).map_or("", String::as_str));
                sum += probability;
                count += 1;
            }
            previous = Some(best);
        }
        let confidence = if count == 0 { 0.0 } else { sum / count as f32 };
        (text.trim().to_owned(), confidence)
    }
}

/// One model: its graph, typed once with its free input sides as symbols, and the optimised
/// plans made from it for the input sizes met most recently. tract runs a plan for fixed sizes
/// 3-7 times faster than one for symbolic sizes and makes one from the typed graph in about
/// 50 ms, but each plan holds its own packed copy of the weights (measured: about 20 MB a
/// recogniser plan, 10-15 MB a detector plan), so few are kept.
struct Model {
    graph: TypedModel,
    /// Per input side, its symbol (the side divided by [`SIDE_UNIT`]) when free, its size when fixed.
    sides: [Result<Symbol, usize>; 2],
    /// Most recently used last.
    plans: Mutex<Vec<([usize; 2], Arc<TypedRunnableModel>)>>,
    kept: usize,
}

/// A free input side is a whole number of these pixels: the models' strides divide it, which
/// lets tract prove that the feature maps the detector joins have the same sizes.
const SIDE_UNIT: usize = 32;

impl Model {
    /// The model at `path` for inputs `[1, 3, height, width]`, each side fixed or free (`None`),
    /// keeping `kept` plans, and the dictionary in its metadata if it has one. The file's
    /// intermediate shape annotations are ignored: tract infers every shape itself.
    fn load(path: &Path, sides: [Option<usize>; 2], kept: usize) -> Result<(Self, Option<String>), VisionError> {
        let model_error = |e: TractError| VisionError::Model { path: path.to_owned(), message: format!("{e:#}") };
        let bytes =
            std::fs::read(path).map_err(|e| VisionError::Model { path: path.to_owned(), message: e.to_string() })?;
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut bytes.as_slice())
            .map_err(model_error)?;
        let dictionary = model
            .properties
            .get(DICTIONARY_KEY)
            .and_then(|t| t.try_as_plain_ram().ok().and_then(|v| v.to_scalar::<String>().ok().cloned()));
        let side = |fixed: Option<usize>, name: &str| -> TractResult<(TDim, Result<Symbol, usize>)> {
            let Some(fixed) = fixed else {
                model.symbols.add_assertion(format!("{name} >= 1"))?;
                let symbol = model.symbols.sym(name);
                return Ok((symbol.to_dim() * SIDE_UNIT as i64, Ok(symbol)));
            };
            Ok((fixed.to_dim(), Err(fixed)))
        };
        let (height, width) =
            (side(sides[0], "height").map_err(model_error)?, side(sides[1], "width").map_err(model_error)?);
        let graph = model
            .with_input_fact(0, f32::fact([1.to_dim(), 3.to_dim(), height.0, width.0]).into())
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .map_err(model_error)?;
        Ok((Self { graph, sides: [height.1, width.1], plans: Mutex::new(Vec::new()), kept }, dictionary))
    }

    /// The plan for inputs of `shape`, made if none is kept for it.
    fn plan(&self, shape: [usize; 4]) -> Result<Arc<TypedRunnableModel>, String> {
        let size = [shape[2], shape[3]];
        let mut values = HashMap::new();
        for (side, length) in self.sides.iter().zip(size) {
            match side {
                Ok(symbol) if length > 0 && length % SIDE_UNIT == 0 => {
                    values.insert(symbol.clone(), ((length / SIDE_UNIT) as i64).to_dim());
                }
                Err(fixed) if *fixed == length => {}
                _ => return Err(format!("an input of shape {shape:?} does not fit")),
            }
        }
        if shape[..2] != [1, 3] {
            return Err(format!("an input of shape {shape:?} does not fit"));
        }
        let kept = |plans: &mut Vec<([usize; 2], Arc<TypedRunnableModel>)>| {
            let at = plans.iter().position(|(known, _)| *known == size)?;
            let entry = plans.remove(at);
            plans.push(entry.clone());
            Some(entry.1)
        };
        if let Some(plan) = kept(&mut self.plans.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(plan);
        }
        let plan = self
            .graph
            .set_symbols(&values)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| format!("{e:#}"))?;
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if kept(&mut plans).is_none() {
            if plans.len() >= self.kept {
                plans.remove(0);
            }
            plans.push((size, plan.clone()));
        }
        Ok(plan)
    }
}
