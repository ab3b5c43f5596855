//! Direct convolution for the convolutions of the mobile CNNs Cuebox runs that have few input
//! channels per group, replacing tract's own at load time: the depthwise ones (one filter per
//! channel) and the first layer on the RGB image.
//! - tract 0.23 vectorises a depthwise row only at stride 1 and along rows of at least 8 points,
//!   so EfficientNet-Lite0's four stride-2 depthwise layers ran scalar (~70% of its depthwise
//!   time) and its 14x14 and 7x7 layers mostly scalar.
//! - The first layer (3 channels in, 32 out, 3x3 at stride 2) went through tract's lazy im2col
//!   and a matrix product whose inner dimension is only 27.
//!
//! Here the input channels of a group are copied once into zero-padded planes, split into their
//! column phases when the stride is 2, and a tile of output rows by 8 or 16 points accumulates
//! tap by tap over every input channel of the group, so every load is contiguous at any stride
//! and size. A ReLU6 that follows the convolution is fused in.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_onnx::tract_core::ops::cnn::conv::Conv;
use tract_onnx::tract_core::ops::cnn::{KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::math::{Max, Min};

/// Output points along a row in one accumulator.
const LANES: usize = 8;
/// Output rows computed together: independent accumulators keep the adders busy.
const ROWS: usize = 4;

/// Most input channels per group a convolution may have to be run here: enough for an RGB
/// image; with more, tract's matrix products are the faster way.
const MAX_GROUP_INPUTS: usize = 4;

/// Replaces every float convolution of `model` (a decluttered typed model in CHW or NCHW with
/// N = 1) with at most [`MAX_GROUP_INPUTS`] input channels per group by [`DirectConv`], folding
/// a following `max(x, low)` then `min(x, high)` into it. Other nodes are left alone.
pub fn replace_direct_convolutions(mut model: TypedModel) -> TractResult<TypedModel> {
    for id in model.eval_order()? {
        let Some(op) = direct_conv_for(&model, id)? else { continue };
        let node = model.node(id);
        let mut tail = OutletId::new(id, 0);
        let mut op = op;
        if let Some((low, high, clamped)) = following_clamp(&model, id) {
            op.clamp = Some((low, high));
            tail = clamped;
        }
        let mut patch = TypedModelPatch::new("cuebox direct convolution");
        let Some(&input) = node.inputs.first() else { continue };
        let input = patch.tap_model(&model, input)?;
        let output = patch.wire_node(&node.name, op, &[input])?.into_iter().next().context("no outlet")?;
        patch.shunt_outside(&model, tail, output)?;
        patch.apply(&mut model)?;
    }
    Ok(model)
}

/// The replacement for node `id`, when it is a convolution this op can run.
fn direct_conv_for(model: &TypedModel, id: usize) -> TractResult<Option<DirectConv>> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
    let (&[data, kernel, bias, ..], Some(output)) = (node.inputs.as_slice(), node.outputs.first()) else {
        return Ok(None);
    };
    let input_fact = model.outlet_fact(data)?;
    let (Some(input_shape), Some(output_shape)) = (input_fact.shape.as_concrete(), output.fact.shape.as_concrete())
    else {
        return Ok(None);
    };
    let input = conv.pool_spec.data_format.shape(input_shape.to_vec())?;
    let output = conv.pool_spec.data_format.shape(output_shape.to_vec())?;
    let (input_channels, output_channels, groups) = (*input.c(), *output.c(), conv.group);
    let kernel_shape = &conv.pool_spec.kernel_shape;
    let eligible = groups > 0
        && input_channels % groups == 0
        && output_channels % groups == 0
        && input_channels / groups <= MAX_GROUP_INPUTS
        && conv.output_channels() == output_channels
        && conv.kernel_fmt == KernelFormat::OIHW
        && conv.q_params.is_none()
        && input_fact.datum_type == f32::datum_type()
        && !input.fmt.c_is_last()
        && input.hw_rank() == 2
        && input.n().is_none_or(|&n| n == 1)
        && conv.pool_spec.dilations().iter().all(|&d| d == 1)
        && conv.pool_spec.strides().iter().all(|&s| s == 1 || s == 2);
    if !eligible {
        return Ok(None);
    }
    let pad_before = match &conv.pool_spec.padding {
        PaddingSpec::Explicit(before, _) => first_two(before),
        PaddingSpec::Valid => Some([0, 0]),
        _ => None,
    };
    let (Some(pad_before), Some(kernel), Some(bias)) =
        (pad_before, model.outlet_fact(kernel)?.konst.clone(), model.outlet_fact(bias)?.konst.clone())
    else {
        return Ok(None);
    };
    let weights = kernel.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let bias = bias.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let bias = match *bias.as_slice() {
        [only] => vec![only; output_channels],
        _ if bias.len() == output_channels => bias,
        _ => return Ok(None),
    };
    let (Some(input), Some(output), Some(kernel), Some(strides)) = (
        first_two(input.hw_dims()),
        first_two(output.hw_dims()),
        first_two(kernel_shape),
        first_two(&conv.pool_spec.strides()),
    ) else {
        return Ok(None);
    };
    let geometry = Geometry { input_channels, output_channels, groups, input, output, kernel, strides, pad_before };
    if geometry.is_empty() || weights.len() != output_channels * geometry.taps() {
        return Ok(None);
    }
    let tap_offsets = geometry.tap_offsets();
    if !geometry.reads_stay_inside(&tap_offsets) {
        return Ok(None);
    }
    Ok(Some(DirectConv {
        geometry,
        tap_offsets: tap_offsets.into(),
        output_shape: output_shape.into(),
        weights: weights.into(),
        bias: bias.into(),
        clamp: None,
    }))
}

/// `(low, high, outlet of the min)` when the only consumer of node `id` is `max(x, low)` and the
/// only consumer of that is `min(x, high)`, with scalar constants.
fn following_clamp(model: &TypedModel, id: usize) -> Option<(f32, f32, OutletId)> {
    let max = model.single_succ(id).ok().flatten()?;
    let low = scalar_operand::<Max>(model, max, OutletId::new(id, 0))?;
    let min = model.single_succ(max.id).ok().flatten()?;
    let high = scalar_operand::<Min>(model, min, OutletId::new(max.id, 0))?;
    Some((low, high, OutletId::new(min.id, 0)))
}

/// The scalar constant that a binary `M` node combines with `wire`.
/// The first two values, for the height and width of a 2-D convolution.
fn first_two(values: &[usize]) -> Option<[usize; 2]> {
    values.first_chunk().copied()
}

fn scalar_operand<M: BinMiniOp>(model: &TypedModel, node: &TypedNode, wire: OutletId) -> Option<f32> {
    let op = node.op_as::<TypedBinOp>()?;
    let [a, b] = node.inputs[..] else { return None };
    if !op.0.is::<M>() || node.outputs.first()?.fact.shape != model.outlet_fact(wire).ok()?.shape {
        return None;
    }
    let other = if a == wire {
        b
    } else if b == wire {
        a
    } else {
        return None;
    };
    let konst = model.outlet_fact(other).ok()?.konst.clone()?;
    let values = konst.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec();
    match values[..] {
        [value] => Some(value),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Geometry {
    input_channels: usize,
    output_channels: usize,
    groups: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    pad_before: [usize; 2],
}

impl Geometry {
    /// Rows of the padded plane: every row a tile of `ROWS` output rows reads, and every input row.
    fn padded_rows(&self) -> usize {
        let read = (self.output[0].next_multiple_of(ROWS) - 1) * self.strides[0] + self.kernel[0];
        read.max(self.pad_before[0] + self.input[0])
    }

    /// Columns of each column phase of the padded plane: every column the widest tile reads,
    /// and the whole input row.
    fn phase_width(&self) -> usize {
        let read = self.output[1].next_multiple_of(2 * LANES) + (self.kernel[1] - 1) / self.strides[1];
        read.max((self.pad_before[1] + self.input[1]).div_ceil(self.strides[1]))
    }

    fn group_inputs(&self) -> usize {
        self.input_channels / self.groups
    }

    fn group_outputs(&self) -> usize {
        self.output_channels / self.groups
    }

    /// Floats of one input channel in the padded buffer: its plane, or its two column phases.
    fn channel_size(&self) -> usize {
        self.strides[1] * self.padded_rows() * self.phase_width()
    }

    /// Output points along a row that a tile computes at once.
    fn tile_width(&self) -> usize {
        if self.output[1] > LANES { 2 * LANES } else { LANES }
    }

    /// Where each tap (input channel of the group, kernel row, kernel column) reads in the
    /// padded buffer, relative to the output point's own position.
    fn tap_offsets(&self) -> Vec<usize> {
        let ([kh, kw], sw, width) = (self.kernel, self.strides[1], self.phase_width());
        let (phase_size, channel_size) = (self.padded_rows() * width, self.channel_size());
        (0..self.group_inputs())
            .flat_map(|c| {
                (0..kh).flat_map(move |ky| {
                    (0..kw).map(move |kx| c * channel_size + (kx % sw) * phase_size + ky * width + kx / sw)
                })
            })
            .collect()
    }

    /// Whether the last tile, which reads furthest, reads only inside the padded buffer.
    fn reads_stay_inside(&self, tap_offsets: &[usize]) -> bool {
        let [oh, ow] = self.output;
        let (tile, step) = (self.tile_width(), self.strides[0] * self.phase_width());
        let last_base = (oh - 1) / ROWS * ROWS * step + (ow - 1) / tile * tile;
        let furthest = tap_offsets.iter().max().map_or(0, |offset| last_base + offset + (ROWS - 1) * step + tile);
        furthest <= self.group_inputs() * self.channel_size()
    }

    /// Weights of one output channel: a filter over every input channel of its group.
    fn taps(&self) -> usize {
        self.group_inputs() * self.kernel[0] * self.kernel[1]
    }

    fn is_empty(&self) -> bool {
        [
            self.input_channels,
            self.output_channels,
            self.input[0],
            self.input[1],
            self.output[0],
            self.output[1],
            self.kernel[0],
            self.kernel[1],
        ]
        .contains(&0)
    }
}

/// Convolution of a CHW (or 1CHW) float tensor with few input channels per group, with an
/// optional fused clamp.
#[derive(Clone, Debug)]
pub struct DirectConv {
    geometry: Geometry,
    /// `Geometry::tap_offsets`, checked to read inside the padded buffer.
    tap_offsets: Arc<[usize]>,
    output_shape: TVec<usize>,
    /// `[output channel][input channel of its group][kernel row][kernel column]`.
    weights: Arc<[f32]>,
    bias: Arc<[f32]>,
    clamp: Option<(f32, f32)>,
}

impl PartialEq for DirectConv {
    fn eq(&self, other: &Self) -> bool {
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let clamp_bits = |clamp: Option<(f32, f32)>| clamp.map(|(low, high)| (low.to_bits(), high.to_bits()));
        self.geometry == other.geometry
            && self.output_shape == other.output_shape
            && bits(&self.weights) == bits(&other.weights)
            && bits(&self.bias) == bits(&other.bias)
            && clamp_bits(self.clamp) == clamp_bits(other.clamp)
    }
}

// Floats are compared by their bits, which is an equivalence.
impl Eq for DirectConv {}

impl Op for DirectConv {
    fn name(&self) -> StaticName {
        "CueboxDirectConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!(
            "kernel {:?} strides {:?} pad before {:?} clamp {:?}",
            g.kernel, g.strides, g.pad_before, self.clamp
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DirectConv {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [input] = &inputs[..] else { bail!("CueboxDirectConv takes one input") };
        let input = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let g = &self.geometry;
        ensure!(
            input.len() == g.input_channels * g.input[0] * g.input[1],
            "CueboxDirectConv input has {} values, expected {}",
            input.len(),
            g.input_channels * g.input[0] * g.input[1]
        );
        // SAFETY: `run` writes every value of the output before anything reads it.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.output_shape)? };
        self.run(input, output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(output.into_tvalue()))
    }

    op_out_of_plan!();
}

impl TypedOp for DirectConv {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.output_shape)))
    }

    as_op!();
}

impl DirectConv {
    fn run(&self, input: &[f32], output: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX and FMA.
            unsafe { run_avx_fma(self, input, output) };
            return;
        }
        run::<{ cfg!(target_arch = "aarch64") }>(self, input, output)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn run_avx_fma(op: &DirectConv, input: &[f32], output: &mut [f32]) {
    run::<true>(op, input, output)
}

/// `FUSED`: multiply-adds in one rounding, where the CPU has the instruction (a software
/// fused multiply-add would be far slower than the two operations).
#[expect(
    clippy::indexing_slicing,
    reason = "the op's geometry was checked when it was made: the input holds groups of group_inputs planes of ih * iw, the output output_channels planes of oh * ow, weights taps per output channel and bias one per output channel"
)]
#[inline(always)]
fn run<const FUSED: bool>(op: &DirectConv, input: &[f32], output: &mut [f32]) {
    let g = &op.geometry;
    let [ih, iw] = g.input;
    let [oh, ow] = g.output;
    let [sh, sw] = g.strides;
    let width = g.phase_width();
    let phase_size = g.padded_rows() * width;
    let channel_size = g.channel_size();
    let (top, left) = (g.pad_before[0], g.pad_before[1]);
    // Every input channel of a group fills the same interior of its part of `padded`; the
    // borders stay zero.
    let mut padded = vec![0f32; g.group_inputs() * channel_size];
    let taps = g.taps();
    for (group, planes) in input.chunks_exact(g.group_inputs() * ih * iw).enumerate() {
        for (plane, channel) in planes.chunks_exact(ih * iw).zip(padded.chunks_exact_mut(channel_size)) {
            fill_padded(channel, plane, [iw, left, top], width, phase_size, sw);
        }
        for output_channel in group * g.group_outputs()..(group + 1) * g.group_outputs() {
            let tile = Tile {
                padded: &padded,
                tap_offsets: &op.tap_offsets,
                taps: &op.weights[output_channel * taps..][..taps],
                bias: op.bias[output_channel],
                row_step: sh * width,
                clamp: op.clamp,
            };
            let out = &mut output[output_channel * oh * ow..];
            if g.tile_width() == 2 * LANES {
                tile.run::<{ 2 * LANES }, FUSED>(out, oh, ow);
            } else {
                tile.run::<LANES, FUSED>(out, oh, ow);
            }
        }
    }
}

/// Copies an input plane, `iw` wide, into the interior of `channel` (its padded plane, or at
/// stride 2 its two column phases one after the other), below `top` and right of `left` padding.
#[expect(
    clippy::indexing_slicing,
    reason = "channel is a padded plane (or its two column phases) of the geometry checked when the op was made, so every input row lands inside it"
)]
fn fill_padded(
    channel: &mut [f32],
    plane: &[f32],
    [iw, left, top]: [usize; 3],
    width: usize,
    phase_size: usize,
    sw: usize,
) {
    for (y, line) in plane.chunks_exact(iw).enumerate() {
        let row = (top + y) * width;
        if sw == 1 {
            channel[row + left..][..iw].copy_from_slice(line);
            continue;
        }
        // Padded column `left + x` lands in phase `(left + x) % 2`, at `(left + x) / 2`.
        let (phase_zero, phase_one) = channel.split_at_mut(phase_size);
        let (even_phase, odd_phase) = if left % 2 == 0 { (phase_zero, phase_one) } else { (phase_one, phase_zero) };
        let even = &mut even_phase[row + left / 2..][..iw.div_ceil(2)];
        let odd = &mut odd_phase[row + left.div_ceil(2)..][..iw / 2];
        for ((even, odd), pair) in even.iter_mut().zip(odd.iter_mut()).zip(line.chunks_exact(2)) {
            *even = pair[0];
            *odd = pair[1];
        }
        if let (Some(last), Some(&value)) = (even.last_mut(), line.last())
            && iw % 2 == 1
        {
            *last = value;
        }
    }
}

/// The padded planes of a group's input channels and one output channel's filter over them.
struct Tile<'a> {
    padded: &'a [f32],
    /// Checked when the op was made to keep every tile's reads inside `padded`
    /// (`Geometry::reads_stay_inside`).
    tap_offsets: &'a [usize],
    taps: &'a [f32],
    bias: f32,
    /// Distance in `padded` between the inputs of two consecutive output rows.
    row_step: usize,
    clamp: Option<(f32, f32)>,
}

impl Tile<'_> {
    /// Writes the channel's `oh`x`ow` plane at the start of `out` (which may run on into the
    /// planes of the next channels), `W` points of `ROWS` rows at a time.
    #[expect(
        clippy::indexing_slicing,
        reason = "count = min(W, ow - start) values of a row that starts inside the channel's oh * ow plane of out"
    )]
    #[inline(always)]
    fn run<const W: usize, const FUSED: bool>(&self, out: &mut [f32], oh: usize, ow: usize) {
        let step = self.row_step;
        for first_row in (0..oh).step_by(ROWS) {
            // The last chunk of a row is stored whole, spilling into the start of the next row,
            // which is written afterwards: chunks go right to left, rows and channels in order.
            for start in (0..ow).step_by(W).rev() {
                let base = first_row * step + start;
                let mut acc = [[self.bias; W]; ROWS];
                debug_assert!(
                    self.tap_offsets.iter().all(|offset| base + offset + (ROWS - 1) * step + W <= self.padded.len()),
                    "a tap reads past the padded planes"
                );
                let padded = self.padded.as_ptr();
                for (&offset, &k) in self.tap_offsets.iter().zip(self.taps) {
                    // SAFETY: no tile reads further than the last, whose furthest read
                    // `Geometry::reads_stay_inside` checked when the op was made, so
                    // `base + offset + r * step + W <= padded.len()` for every row `r < ROWS`.
                    let sources: [&[f32; W]; ROWS] =
                        std::array::from_fn(|r| unsafe { &*padded.add(base + offset + r * step).cast::<[f32; W]>() });
                    accumulate::<W, FUSED>(&mut acc, k, &sources);
                }
                let count = W.min(ow - start);
                for (r, acc) in acc.iter_mut().enumerate().take(oh - first_row) {
                    if let Some((low, high)) = self.clamp {
                        for value in acc.iter_mut() {
                            *value = value.max(low).min(high);
                        }
                    }
                    let position = (first_row + r) * ow + start;
                    match out.get_mut(position..position + W).map(<&mut [f32; W]>::try_from) {
                        Some(Ok(whole)) => *whole = *acc,
                        _ => out[position..position + count].copy_from_slice(&acc[..count]),
                    }
                }
            }
        }
    }
}

/// Indexed loops over fixed-size arrays: LLVM turns these into vector instructions, where it
/// leaves the same loop written with zipped iterators scalar.
#[expect(
    clippy::indexing_slicing,
    reason = "r < ROWS and lane < W index fixed-size arrays of exactly those sizes; the indexed loops are what LLVM vectorises"
)]
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn accumulate<const W: usize, const FUSED: bool>(acc: &mut [[f32; W]; ROWS], k: f32, sources: &[&[f32; W]; ROWS]) {
    for r in 0..ROWS {
        for lane in 0..W {
            acc[r][lane] =
                if FUSED { k.mul_add(sources[r][lane], acc[r][lane]) } else { acc[r][lane] + k * sources[r][lane] };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// The shape of a convolution to test: channels in and out, groups, input size, kernel side,
    /// stride, pads (top, left, bottom, right), and whether ReLU6 follows.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        inputs: usize,
        outputs: usize,
        groups: usize,
        size: [usize; 2],
        kernel: usize,
        stride: usize,
        pads: [usize; 4],
        relu6: bool,
    }

    /// A CHW model: the convolution, then optionally ReLU6 as max/min with constants.
    fn model(case: Case) -> TypedModel {
        let Case { inputs, outputs, groups, size, kernel, stride, pads, relu6 } = case;
        let mut model = TypedModel::default();
        let input = model.add_source("input", f32::fact([inputs, size[0], size[1]])).unwrap();
        let weights: Vec<f32> =
            (0..outputs * inputs / groups * kernel * kernel).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        let bias: Vec<f32> = (0..outputs).map(|c| c as f32 / 5.0 - 1.0).collect();
        let shape = [outputs, inputs / groups, kernel, kernel];
        let weights = model.add_const("weights", Tensor::from_shape(&shape, &weights).unwrap()).unwrap();
        let bias = model.add_const("bias", Tensor::from_shape(&[outputs], &bias).unwrap()).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::CHW,
                kernel_shape: tvec!(kernel, kernel),
                padding: PaddingSpec::Explicit(tvec!(pads[0], pads[1]), tvec!(pads[2], pads[3])),
                dilations: None,
                strides: Some(tvec!(stride, stride)),
                input_channels: inputs,
                output_channels: outputs,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: groups,
            q_params: None,
        };
        let mut wire = model.wire_node("conv", conv, &[input, weights, bias]).unwrap()[0];
        if relu6 {
            let zero = model.add_const("zero", tensor3(&[[[0f32]]])).unwrap();
            let six = model.add_const("six", tensor3(&[[[6f32]]])).unwrap();
            wire = model.wire_node("max", tract_onnx::tract_core::ops::math::max(), &[wire, zero]).unwrap()[0];
            wire = model.wire_node("min", tract_onnx::tract_core::ops::math::min(), &[wire, six]).unwrap()[0];
        }
        model.select_output_outlets(&[wire]).unwrap();
        model.into_decluttered().unwrap()
    }

    fn op_names(model: &TypedModel) -> Vec<String> {
        model.nodes().iter().map(|n| n.op().name().to_string()).collect()
    }

    fn run(model: TypedModel, input: &Tensor) -> Vec<f32> {
        let outputs =
            model.into_optimized().unwrap().into_runnable().unwrap().run(tvec!(input.clone().into())).unwrap();
        outputs[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
    }

    #[test]
    fn agrees_with_tract_at_every_stride_size_padding_and_grouping() {
        // Channels in, out and groups; input size; kernel; stride; pads; ReLU6.
        for ([inputs, outputs, groups], size, kernel, stride, pads, relu6) in [
            ([3, 3, 3], [7, 7], 5, 1, [2, 2, 2, 2], true),
            ([5, 5, 5], [14, 14], 3, 1, [1, 1, 1, 1], false),
            ([2, 2, 2], [112, 112], 3, 2, [0, 0, 1, 1], true),
            ([4, 4, 4], [56, 56], 5, 2, [1, 1, 2, 2], true),
            ([3, 3, 3], [14, 13], 5, 2, [1, 2, 2, 1], false),
            ([2, 2, 2], [9, 30], 1, 1, [0, 0, 0, 0], false),
            ([17, 17, 17], [28, 28], 3, 1, [1, 1, 1, 1], true),
            // EfficientNet-Lite0's first layer on the RGB image, and smaller dense ones.
            ([3, 32, 1], [224, 224], 3, 2, [0, 0, 1, 1], true),
            ([3, 5, 1], [15, 12], 3, 1, [1, 1, 1, 1], false),
            ([4, 3, 1], [9, 11], 5, 2, [2, 1, 2, 2], true),
            // Two input channels and three output channels per group.
            ([4, 6, 2], [10, 10], 3, 1, [1, 1, 1, 1], false),
        ] {
            let case = Case { inputs, outputs, groups, size, kernel, stride, pads, relu6 };
            let reference = model(case);
            let replaced = replace_direct_convolutions(reference.clone()).unwrap();
            let ops = op_names(&replaced);
            assert!(ops.contains(&"CueboxDirectConv".to_string()), "{case:?}: {ops:?}");
            if case.relu6 {
                assert!(!ops.iter().any(|op| op == "Max" || op == "Min"), "the clamp is fused: {ops:?}");
            }
            let values: Vec<f32> = (0..case.inputs * case.size[0] * case.size[1])
                .map(|i| ((i * 7919 % 101) as f32 - 50.0) / 9.0)
                .collect();
            let input = Tensor::from_shape(&[case.inputs, case.size[0], case.size[1]], &values).unwrap();
            let (expected, ours) = (run(reference, &input), run(replaced, &input));
            assert_eq!(expected.len(), ours.len());
            let worst = expected.iter().zip(&ours).map(|(a, b)| (a - b).abs() / (1.0 + a.abs())).fold(0f32, f32::max);
            assert!(worst < 1e-5, "{case:?}: off by {worst}");
        }
    }

    #[test]
    fn convolutions_with_many_inputs_per_group_are_left_to_tract() {
        let case =
            Case { inputs: 16, outputs: 8, groups: 1, size: [6, 6], kernel: 1, stride: 1, pads: [0; 4], relu6: false };
        let replaced = replace_direct_convolutions(model(case)).unwrap();
        assert!(!op_names(&replaced).contains(&"CueboxDirectConv".to_string()));
    }

    #[test]
    fn a_clamp_with_another_consumer_is_not_fused() {
        let depthwise =
            Case { inputs: 2, outputs: 2, groups: 2, size: [8, 8], kernel: 3, stride: 1, pads: [1; 4], relu6: false };
        let mut reference = model(depthwise);
        let conv_output = reference.outputs[0];
        let zero = reference.add_const("zero", tensor3(&[[[0f32]]])).unwrap();
        let max =
            reference.wire_node("max", tract_onnx::tract_core::ops::math::max(), &[conv_output, zero]).unwrap()[0];
        reference.select_output_outlets(&[conv_output, max]).unwrap();
        let replaced = replace_direct_convolutions(reference).unwrap();
        assert!(replaced.nodes().iter().any(|n| n.op().name() == "Max"));
    }
}
