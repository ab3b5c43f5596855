//! Multilingual sentence embeddings for FAQ retrieval: multilingual-e5-small as
//! `models/convert_e5.py` ships it. The tokenizer gives the ids, their rows are gathered from
//! the 4-bit token-embedding table and dequantised here, and tract runs the encoder, which
//! returns the mean-pooled, L2-normalised embedding.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{AxesMapping, AxisOp, TractErrorContext, TypedModelPatch, ensure, format_err};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::tract_linalg::block_quant::{BlockQuant, BlockQuantFact, BlockQuantStorage, Q4_0};

use crate::TextEmbeddingError;
use crate::tokenizer::Tokenizer;

/// Length of a text embedding.
pub const TEXT_EMBEDDING_DIM: usize = 384;
/// The encoder, without its token-embedding table.
pub const TEXT_MODEL_FILE: &str = "multilingual-e5-small.onnx";
/// The token-embedding table, 4-bit.
pub const TEXT_TABLE_FILE: &str = "multilingual-e5-small.embeddings.q4";
/// The sentencepiece vocabulary and normalisation rules.
pub const TEXT_TOKENIZER_FILE: &str = "multilingual-e5-small.tokenizer.json";

const QUERY_PREFIX: &str = "query: ";
const PASSAGE_PREFIX: &str = "passage: ";

/// The table file: magic, u32 rows, u32 dimension, then rows of Q4_0 blocks (an f16 scale and
/// 16 bytes of nibble pairs: byte j holds weight j low and weight j + 16 high, w = (q - 8) * scale).
const TABLE_MAGIC: &[u8; 8] = b"E5Q4ROWS";
const TABLE_HEADER_BYTES: usize = 16;
const BLOCK_WEIGHTS: usize = 32;
const BLOCK_BYTES: usize = 2 + BLOCK_WEIGHTS / 2;
const ROW_BYTES: usize = TEXT_EMBEDDING_DIM / BLOCK_WEIGHTS * BLOCK_BYTES;

/// The text-embedding model, loaded and optimised once, shared cheaply across threads.
#[derive(Clone)]
pub struct TextEmbedder {
    shared: Arc<Shared>,
    /// Embeddings of the texts an index is built from, kept across builds and restarts.
    remembered: Option<sled::Tree>,
    /// Once set, building an index stops at the next text (`TextEmbeddingError::Stopped`).
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Which side of e5's asymmetric retrieval a text is embedded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Side {
    Query = b'q',
    Passage = b'p',
}

struct Shared {
    plan: Arc<TypedRunnableModel>,
    table: TokenTable,
    tokenizer: Tokenizer,
    sha256: String,
}

impl TextEmbedder {
    /// Loads `TEXT_MODEL_FILE`, `TEXT_TABLE_FILE` and `TEXT_TOKENIZER_FILE` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, TextEmbeddingError> {
        let model_path = dir.join(TEXT_MODEL_FILE);
        let table_path = dir.join(TEXT_TABLE_FILE);
        let tokenizer_path = dir.join(TEXT_TOKENIZER_FILE);
        let mut hasher = Sha256::new();
        let mut read_hashed = |path: &Path| {
            let bytes = std::fs::read(path).map_err(|e| model_error(path, e.to_string()))?;
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(&bytes);
            Ok::<_, TextEmbeddingError>(bytes)
        };
        // The encoder first: the heap that folding its weights leaves free is then reused by
        // the tokenizer's many small allocations instead of growing the process.
        let plan = optimise(&read_hashed(&model_path)?).map_err(|e| model_error(&model_path, format!("{e:#}")))?;
        let tokenizer = Tokenizer::from_json(&read_hashed(&tokenizer_path)?)
            .map_err(|message| model_error(&tokenizer_path, message))?;
        let table_error = |message: String| model_error(&table_path, message);
        let mut table_file = File::open(&table_path).map_err(|e| table_error(e.to_string()))?;
        let table_bytes = table_file.metadata().map_err(|e| table_error(e.to_string()))?.len();
        hasher.update(table_bytes.to_be_bytes());
        std::io::copy(&mut table_file, &mut hasher).map_err(|e| table_error(e.to_string()))?;
        let table = TokenTable::open(table_file, tokenizer.vocabulary_size()).map_err(table_error)?;
        let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let embedder =
            Self { shared: Arc::new(Shared { plan, table, tokenizer, sha256 }), remembered: None, stop: None };
        embedder.embed_query("probe").map_err(|e| model_error(&model_path, format!("does not run: {e}")))?;
        Ok(embedder)
    }

    /// Keeps the embeddings of the texts FAQ indexes are built from in `tree` (e.g. a tree of
    /// the catalog store), under this model's sha256, so that an index rebuilt after a restart or
    /// a catalog change only embeds the texts it has not seen. Questions are never kept. The
    /// tree is a cache: what cannot be read is embedded again, what cannot be written is not kept.
    pub fn remembering_in(mut self, tree: sled::Tree) -> Self {
        self.remembered = Some(tree);
        self
    }

    /// Makes index builds give up (with `TextEmbeddingError::Stopped`) once `stop` is set, so
    /// that a process can stop while an index of many new texts is being built.
    pub fn stopping_on(mut self, stop: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The embedding of a text an index is built from: remembered, or embedded (and remembered)
    /// now. Returns the key it is remembered under, for [`TextEmbedder::forget_all_but`].
    pub(crate) fn embed_remembered(&self, side: Side, text: &str) -> Result<(Vec<f32>, Vec<u8>), TextEmbeddingError> {
        if self.stop.as_ref().is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(TextEmbeddingError::Stopped);
        }
        let key = [self.sha256().as_bytes(), &[b'\n', side as u8, b'\n'], text.as_bytes()].concat();
        let stored = self.remembered.as_ref().and_then(|tree| tree.get(&key).ok().flatten());
        if let Some(bytes) = stored.filter(|bytes| bytes.len() == TEXT_EMBEDDING_DIM * 4) {
            let embedding = bytes.as_chunks().0.iter().map(|b| f32::from_le_bytes(*b)).collect();
            return Ok((embedding, key));
        }
        let embedding = match side {
            Side::Query => self.embed_query(text)?,
            Side::Passage => self.embed_passage(text)?,
        };
        if let Some(tree) = &self.remembered {
            let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
            if let Err(error) = tree.insert(&key, bytes) {
                tracing::warn!(%error, "a text embedding could not be kept");
            }
        }
        Ok((embedding, key))
    }

    /// Forgets every remembered embedding but those under `keep` (what the newest index used).
    pub(crate) fn forget_all_but(&self, keep: &HashSet<Vec<u8>>) {
        let Some(tree) = &self.remembered else { return };
        for key in tree.iter().keys().flatten() {
            if !keep.contains(key.as_ref()) && tree.remove(&key).is_err() {
                return;
            }
        }
    }

    /// Identifies the model (all three files): embeddings are only comparable under the same one.
    pub fn sha256(&self) -> &str {
        &self.shared.sha256
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.shared.tokenizer
    }

    /// The L2-normalised embedding of a question (e5's "query: " side).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, TextEmbeddingError> {
        self.embed(QUERY_PREFIX, text)
    }

    /// The L2-normalised embedding of a text to be found (e5's "passage: " side).
    pub fn embed_passage(&self, text: &str) -> Result<Vec<f32>, TextEmbeddingError> {
        self.embed(PASSAGE_PREFIX, text)
    }

    fn embed(&self, prefix: &str, text: &str) -> Result<Vec<f32>, TextEmbeddingError> {
        let ids = self.shared.tokenizer.encode(&format!("{prefix}{text}"));
        let mut rows = Vec::with_capacity(ids.len() * TEXT_EMBEDDING_DIM);
        for &id in &ids {
            self.shared.table.push_row(id, &mut rows)?;
        }
        let inference_error = |e: TractError| TextEmbeddingError::Inference(format!("{e:#}"));
        let tokens = Tensor::from_shape(&[1, ids.len(), TEXT_EMBEDDING_DIM], &rows).map_err(inference_error)?;
        let mask = Tensor::from_shape(&[1, ids.len()], &vec![1i64; ids.len()]).map_err(inference_error)?;
        let outputs = self.shared.plan.run(tvec!(tokens.into(), mask.into())).map_err(inference_error)?;
        let output = outputs.first().ok_or_else(|| TextEmbeddingError::Inference("the model gave no output".into()))?;
        let embedding: Vec<f32> =
            output.to_plain_array_view::<f32>().map_err(inference_error)?.iter().copied().collect();
        if embedding.len() != TEXT_EMBEDDING_DIM || embedding.iter().any(|v| !v.is_finite()) {
            return Err(TextEmbeddingError::Inference(format!(
                "expected {TEXT_EMBEDDING_DIM} finite values, got {} values",
                embedding.len()
            )));
        }
        Ok(embedding)
    }
}

/// Loads the encoder and keeps its matrices as Q4_0 block-quantised constants (4.5 bits a
/// weight) that tract's matmul kernels decode as they go, instead of the f32 constants that
/// folding the graph's dequantisation would leave (84 MB).
fn optimise(model_bytes: &[u8]) -> TractResult<Arc<TypedRunnableModel>> {
    let model = tract_onnx::onnx().model_for_read(&mut &*model_bytes)?;
    let sequence = model.symbols.sym("sequence");
    let tokens = f32::fact([1.to_dim(), sequence.to_dim(), TEXT_EMBEDDING_DIM.to_dim()]);
    let mask = i64::fact([1.to_dim(), sequence.to_dim()]);
    let mut model = model.with_input_fact(0, tokens.into())?.with_input_fact(1, mask.into())?.into_typed()?;
    let replaced = block_quantise_linears(&mut model)?;
    ensure!(replaced == Q4_MATRICES, "expected {Q4_MATRICES} 4-bit matrices in the encoder, found {replaced}");
    model.into_optimized()?.into_runnable()
}

/// 12 layers of query, key, value, attention output, feed-forward in and out.
const Q4_MATRICES: usize = 12 * 6;

/// Finds every `x @ W.T` that `models/convert_e5.py` writes (`EinSum bskj,okj->bso` between
/// `Reshape(x, [.., K/32, 32])` and the weight `{p}_w`, which `into_typed` has folded from the
/// constants `{p}_codes`, i8 in -8..7, and `{p}_scales`, f16) and replaces it by `EinSum
/// bsk,gnk->bsn` between x and those codes and scales as one Q4_0 constant [1, N, K], the form
/// tract-onnx gives `MatMulNBits`. Q4_0 is `(nibble - 8) * f16 scale` over the same blocks of
/// 32 along K, so nothing is rounded. Returns how many were replaced; the f32 constants they
/// used are dead and dropped by `into_optimized`.
fn block_quantise_linears(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(einsum) = node.op_as::<EinSum>() else { continue };
        let &[input, weight_input] = node.inputs.as_slice() else { continue };
        if einsum.axes.to_string() != "bskj,okj->bso" {
            continue;
        }
        let reshape = model.node(input.node);
        let Some(AxisOp::Reshape(_, from, to)) = reshape.op_as::<AxisOp>() else { continue };
        if from.len() != 1 || to.len() != 2 || to.get(1) != Some(&BLOCK_WEIGHTS.to_dim()) {
            continue;
        }
        let Some(&x) = reshape.inputs.first() else { continue };
        let weight_node = model.node(weight_input.node);
        let Some(prefix) = weight_node.name.trim_end_matches(".0").strip_suffix("_w") else { continue };
        let codes = named_const(model, &format!("{prefix}_codes"))?;
        let scales = named_const(model, &format!("{prefix}_scales"))?;
        let folded = model.outlet_fact(weight_input)?.konst.clone().context("weight is not a constant")?;
        let &[n, blocks, _] = codes.shape() else {
            return Err(format_err!("{prefix}: codes are not [N, blocks, {BLOCK_WEIGHTS}]"));
        };
        let k = blocks * BLOCK_WEIGHTS;
        ensure!(
            codes.shape() == [n, blocks, BLOCK_WEIGHTS]
                && scales.shape() == [n, blocks, 1]
                && folded.shape() == codes.shape()
        );
        let codes = codes.cast_to::<i8>()?;
        let codes = codes.try_as_plain_ram()?;
        let codes: &[i8] = codes.as_slice()?;
        let scales = scales.cast_to::<f32>()?;
        let scales = scales.try_as_plain_ram()?;
        let scales: &[f32] = scales.as_slice()?;
        ensure!(codes.iter().all(|c| (-8..=7).contains(c)), "{prefix}: 4-bit codes outside -8..7");
        // The weight the graph folded must be exactly codes * scales, or this is another model.
        let folded = folded.try_as_plain_ram()?;
        let folded: &[f32] = folded.as_slice()?;
        ensure!(
            folded
                .iter()
                .zip(codes)
                .enumerate()
                .all(|(at, (w, c))| scales.get(at / BLOCK_WEIGHTS).is_some_and(|s| *w == f32::from(*c) * s)),
            "{prefix}: weight is not codes * scales"
        );
        let nibbles: Vec<u8> = codes.iter().map(|c| (c + 8) as u8).collect();
        let blob = Q4_0.pack_prequantized(&nibbles, scales, n, k)?;
        let format: Box<dyn BlockQuant> = Box::new(Q4_0);
        let storage = BlockQuantStorage::new(format.clone(), n, k, Arc::new(blob))?;
        let weight = Const::new_with_exotic_fact(
            Arc::new(storage.into_tensor_with_shape(f32::datum_type(), &[1, n, k])),
            Box::new(BlockQuantFact::new(format, tvec!(1, n, k))),
        )?;

        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, x)?;
        let weight = patch.wire_node(format!("{prefix}_q4_0"), weight, &[])?.into_iter().next().context("no outlet")?;
        let axes = AxesMapping::from_strs(&["bsk", "gnk"], &["bsn"])?;
        let y = patch
            .wire_node(&node.name, EinSum::new(axes, f32::datum_type()), &[x, weight])?
            .into_iter()
            .next()
            .context("no outlet")?;
        patch.shunt_outside(model, OutletId::new(id, 0), y)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// A constant of the typed model by its ONNX name (tract may suffix it with ".0").
fn named_const(model: &TypedModel, name: &str) -> TractResult<Arc<Tensor>> {
    let node = model
        .nodes()
        .iter()
        .find(|n| n.name == name || n.name.strip_suffix(".0") == Some(name))
        .with_context(|| format!("no node named {name}"))?;
    model.outlet_fact(OutletId::new(node.id, 0))?.konst.clone().with_context(|| format!("{name} is not a constant"))
}

fn model_error(path: &Path, message: String) -> TextEmbeddingError {
    TextEmbeddingError::Model { path: PathBuf::from(path), message }
}

/// The token-embedding table in its shipped 4-bit form, read a row at a time from the file: a
/// question needs a few dozen of its 250k rows, so the 54 MB need not be resident.
struct TokenTable {
    file: File,
    rows: usize,
}

impl TokenTable {
    fn open(file: File, vocabulary_size: usize) -> Result<Self, String> {
        let mut header = [0u8; TABLE_HEADER_BYTES];
        file.read_exact_at(&mut header, 0).map_err(|_| "shorter than its header")?;
        if header.first_chunk() != Some(TABLE_MAGIC) {
            return Err("not a 4-bit token-embedding table (magic differs)".into());
        }
        let field =
            |at: usize| header.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes) as usize;
        let (rows, dimension) = (field(8), field(12));
        if dimension != TEXT_EMBEDDING_DIM {
            return Err(format!("rows have {dimension} values, expected {TEXT_EMBEDDING_DIM}"));
        }
        if rows < vocabulary_size {
            return Err(format!("{rows} rows cannot cover the tokenizer's {vocabulary_size} pieces"));
        }
        let expected = (TABLE_HEADER_BYTES + rows * ROW_BYTES) as u64;
        let actual = file.metadata().map_err(|e| e.to_string())?.len();
        if actual != expected {
            return Err(format!("{actual} bytes, expected {expected} for {rows} rows"));
        }
        Ok(Self { file, rows })
    }

    fn push_row(&self, id: u32, out: &mut Vec<f32>) -> Result<(), TextEmbeddingError> {
        let row = id as usize;
        if row >= self.rows {
            return Err(TextEmbeddingError::Inference(format!(
                "token id {id} is outside the {} table rows",
                self.rows
            )));
        }
        let mut bytes = [0u8; ROW_BYTES];
        self.file
            .read_exact_at(&mut bytes, (TABLE_HEADER_BYTES + row * ROW_BYTES) as u64)
            .map_err(|e| TextEmbeddingError::Inference(format!("reading token row {id}: {e}")))?;
        for block in bytes.chunks_exact(BLOCK_BYTES) {
            let Some((scale, nibbles)) = block.split_first_chunk() else { continue };
            let scale = f16::from_bits(u16::from_le_bytes(*scale)).to_f32();
            out.extend(nibbles.iter().map(|&pair| f32::from(pair & 0x0F) - 8.0).map(|q| q * scale));
            out.extend(nibbles.iter().map(|&pair| f32::from(pair >> 4) - 8.0).map(|q| q * scale));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with_one_row(scale: f32, nibble_pair: u8) -> Vec<u8> {
        let mut bytes = TABLE_MAGIC.to_vec();
        bytes.extend(1u32.to_le_bytes());
        bytes.extend((TEXT_EMBEDDING_DIM as u32).to_le_bytes());
        for _ in 0..TEXT_EMBEDDING_DIM / BLOCK_WEIGHTS {
            bytes.extend(f16::from_f32(scale).to_bits().to_le_bytes());
            bytes.extend([nibble_pair; BLOCK_WEIGHTS / 2]);
        }
        bytes
    }

    fn open_table(bytes: &[u8], vocabulary_size: usize) -> Result<TokenTable, String> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        TokenTable::open(file, vocabulary_size)
    }

    #[test]
    fn rows_dequantise_low_nibbles_first() {
        // Low nibble 9 -> (9 - 8) * 0.5, high nibble 2 -> (2 - 8) * 0.5.
        let table = open_table(&table_with_one_row(0.5, 0x29), 1).unwrap();
        let mut row = Vec::new();
        table.push_row(0, &mut row).unwrap();
        assert_eq!(row.len(), TEXT_EMBEDDING_DIM);
        assert_eq!(&row[..BLOCK_WEIGHTS], [[0.5; 16], [-3.0; 16]].concat());
        assert!(matches!(table.push_row(1, &mut row), Err(TextEmbeddingError::Inference(_))));
    }

    #[test]
    fn tables_that_do_not_fit_are_refused() {
        let bytes = table_with_one_row(1.0, 0x88);
        assert!(open_table(&bytes, 2).err().unwrap().contains("cannot cover"));
        assert!(open_table(&bytes[..bytes.len() - 1], 1).err().unwrap().contains("expected"));
        assert!(open_table(b"E5Q4ROW", 1).is_err());
        let mut wrong_magic = bytes;
        wrong_magic[0] = b'X';
        assert!(open_table(&wrong_magic, 1).err().unwrap().contains("magic"));
    }

    #[test]
    fn missing_files_name_their_path() {
        let err = TextEmbedder::load(Path::new("/nonexistent/models")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/models/multilingual-e5-small"), "{err}");
    }
}
