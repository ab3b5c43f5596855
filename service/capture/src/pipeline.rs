use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::{CaptureConfig, Frame, Source};

const SOURCE_NAME: &str = "cuebox_src";
const SINK_NAME: &str = "cuebox_sink";

/// The GStreamer description of `source`, ending in Cuebox's conversion and a bounded,
/// leaky appsink that delivers RGB at the configured size (letterboxed, square pixels).
pub(crate) fn description(source: &Source, config: &CaptureConfig) -> String {
    let head = match source {
        Source::Test => format!("videotestsrc name={SOURCE_NAME} is-live=true pattern=ball"),
        Source::File(_) => format!("filesrc name={SOURCE_NAME} ! decodebin"),
        Source::Rtsp(_) => format!("rtspsrc name={SOURCE_NAME} latency=200 ! decodebin"),
        Source::V4l2(_) => format!("v4l2src name={SOURCE_NAME} ! decodebin"),
        Source::Gst(pipeline) => pipeline.clone(),
    };
    format!(
        "{head} ! videorate max-rate={fps} ! videoconvert ! videoscale ! \
         video/x-raw,format=RGB,width={w},height={h},pixel-aspect-ratio=1/1 ! \
         appsink name={SINK_NAME} max-buffers=1 drop=true sync=true",
        fps = config.fps,
        w = config.width,
        h = config.height,
    )
}

/// Builds the pipeline for `source`; every frame it produces is passed to `on_frame`.
pub(crate) fn build(
    source: &Source,
    config: &CaptureConfig,
    on_frame: impl Fn(Frame) + Send + Sync + 'static,
    next_seq: impl Fn() -> u64 + Send + Sync + 'static,
) -> Result<gst::Pipeline, String> {
    let element = gst::parse::launch(&description(source, config)).map_err(|e| e.to_string())?;
    let pipeline = element
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the description does not form a pipeline".to_owned())?;
    match source {
        Source::File(path) => set_source_property(&pipeline, "location", &path.to_string_lossy())?,
        Source::Rtsp(url) => set_source_property(&pipeline, "location", url)?,
        Source::V4l2(device) => set_source_property(&pipeline, "device", &device.to_string_lossy())?,
        Source::Test | Source::Gst(_) => {}
    }
    let sink = pipeline
        .by_name(SINK_NAME)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| "the pipeline has no appsink".to_owned())?;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                match frame_from_sample(&sample, next_seq()) {
                    Ok(frame) => on_frame(frame),
                    Err(message) => tracing::warn!(%message, "unreadable frame skipped"),
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(pipeline)
}

fn set_source_property(pipeline: &gst::Pipeline, name: &str, value: &str) -> Result<(), String> {
    let source = pipeline.by_name(SOURCE_NAME).ok_or_else(|| "source element missing".to_owned())?;
    source.set_property_from_str(name, value);
    Ok(())
}

fn frame_from_sample(sample: &gst::Sample, seq: u64) -> Result<Frame, String> {
    let captured = Instant::now();
    let captured_unix_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let buffer = sample.buffer().ok_or("sample without buffer")?;
    let caps = sample.caps().ok_or("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| e.to_string())?;
    let video = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| "buffer cannot be mapped")?;
    let (width, height) = (info.width(), info.height());
    let stride = usize::try_from(info.stride()[0]).map_err(|_| "negative stride")?;
    let plane = video.plane_data(0).map_err(|e| e.to_string())?;
    let row = width as usize * 3;
    if stride < row || plane.len() < stride * (height as usize - 1) + row {
        return Err(format!("plane of {} bytes too small for {width}x{height} at stride {stride}", plane.len()));
    }
    let mut rgb = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        rgb.extend_from_slice(&plane[y * stride..y * stride + row]);
    }
    Ok(Frame { seq, captured, captured_unix_ms, width, height, rgb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_description_ends_in_the_bounded_leaky_rgb_sink() {
        let config = CaptureConfig {
            sources: vec![],
            width: 320,
            height: 240,
            fps: 15,
            stall_timeout: std::time::Duration::from_secs(5),
        };
        for source in [Source::Test, Source::Gst("videotestsrc".into()), Source::File("/a.mp4".into())] {
            let d = description(&source, &config);
            assert!(d.ends_with("appsink name=cuebox_sink max-buffers=1 drop=true sync=true"), "{d}");
            assert!(d.contains("format=RGB,width=320,height=240"), "{d}");
            assert!(d.contains("max-rate=15"), "{d}");
        }
    }
}
