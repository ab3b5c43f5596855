//! The GStreamer side: a pipeline per source attempt, ending in Cuebox's conversion and a
//! bounded, leaky appsink whose frames go to a [`Delivery`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::delivery::{Delivery, SourceEnd};
use crate::mode::{ChosenMode, DeviceMode, ModeError, PixelFormat, Rate, Rates, Scaling, Sizes, choose_mode};
use crate::{CaptureConfig, Frame, Source};

const SOURCE_NAME: &str = "cuebox_src";
const RATE_NAME: &str = "cuebox_rate";
const SINK_NAME: &str = "cuebox_sink";

/// Frames older than this when they reach the appsink carry a timestamp that cannot be right
/// (a source with a broken clock); they keep the time they arrived.
const PLAUSIBLE_AGE: Duration = Duration::from_secs(2);

/// What rtspsrc waits for UDP data before it retries the stream over TCP.
const RTSP_UDP_TIMEOUT_US: u64 = 2_000_000;
/// rtspsrc's jitter buffer: enough for Wi-Fi jitter, small enough for a prompt product change.
const RTSP_LATENCY_MS: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
    #[error("the GStreamer element {element} is missing (install {package})")]
    MissingElement { element: &'static str, package: &'static str },
    #[error("cannot build the pipeline: {0}")]
    Parse(String),
    #[error("cannot open {}: it is missing, busy or not a capture device", .0.display())]
    DeviceUnavailable(std::path::PathBuf),
    #[error("{}: {error}", .device.display())]
    Mode { device: std::path::PathBuf, error: ModeError },
}

/// How the pipeline converts and scales to RGB at the configured size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Converter {
    /// `videoconvertscale` (GStreamer 1.22+): one pass.
    Combined,
    /// `videoscale ! videoconvert`: scales in the source format first, then converts fewer pixels.
    Separate,
}

impl Converter {
    pub(crate) fn available() -> Converter {
        if gst::ElementFactory::find("videoconvertscale").is_some() { Converter::Combined } else { Converter::Separate }
    }

    fn description(self) -> &'static str {
        match self {
            Converter::Combined => "videoconvertscale",
            Converter::Separate => "videoscale ! videoconvert",
        }
    }
}

/// The GStreamer description of `source` (a V4L2 device in `mode`, if one was chosen), ending
/// in Cuebox's rate limit, conversion and a bounded, leaky appsink that delivers RGB at the
/// configured size (letterboxed, square pixels).
pub(crate) fn description(
    source: &Source,
    config: &CaptureConfig,
    mode: Option<&ChosenMode>,
    converter: Converter,
) -> String {
    let (w, h, fps) = (config.width, config.height, config.fps);
    let head = match source {
        Source::Test => {
            format!(
                "videotestsrc name={SOURCE_NAME} is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1"
            )
        }
        Source::File(_) => format!("filesrc name={SOURCE_NAME} ! decodebin"),
        Source::Rtsp(_) => format!(
            "rtspsrc name={SOURCE_NAME} latency={RTSP_LATENCY_MS} drop-on-latency=true timeout={RTSP_UDP_TIMEOUT_US} ! decodebin"
        ),
        Source::V4l2(_) => match mode {
            Some(mode) => {
                let caps = format!(
                    "width={},height={},framerate={}/{}",
                    mode.width, mode.height, mode.rate.num, mode.rate.den
                );
                match mode.format {
                    PixelFormat::Mjpeg => format!("v4l2src name={SOURCE_NAME} ! image/jpeg,{caps} ! jpegdec"),
                    PixelFormat::Yuyv => format!("v4l2src name={SOURCE_NAME} ! video/x-raw,format=YUY2,{caps}"),
                    PixelFormat::Nv12 => format!("v4l2src name={SOURCE_NAME} ! video/x-raw,format=NV12,{caps}"),
                }
            }
            None => format!("v4l2src name={SOURCE_NAME} ! decodebin"),
        },
        Source::Gst(pipeline) => pipeline.clone(),
    };
    format!(
        "{head} ! videorate name={RATE_NAME} max-rate={fps} drop-only=true ! {converter} ! \
         video/x-raw,format=RGB,width={w},height={h},pixel-aspect-ratio=1/1 ! \
         appsink name={SINK_NAME} max-buffers=1 drop=true sync=true enable-last-sample=false",
        converter = converter.description(),
    )
}

/// Builds the pipeline for `source`; its frames and its end (error, end of stream) go to
/// `delivery`.
pub(crate) fn build(
    source: &Source,
    config: &CaptureConfig,
    delivery: Arc<Delivery>,
) -> Result<gst::Pipeline, PipelineError> {
    let mode = match source {
        Source::V4l2(device) => v4l2_mode(device, config)?,
        _ => None,
    };
    let element = gst::parse::launch(&description(source, config, mode.as_ref(), Converter::available()))
        .map_err(|e| PipelineError::Parse(e.to_string()))?;
    let pipeline = element.downcast::<gst::Pipeline>().map_err(|_| PipelineError::Parse("not a pipeline".into()))?;
    match source {
        Source::File(path) => set_source_property(&pipeline, "location", &path.to_string_lossy())?,
        Source::Rtsp(url) => set_source_property(&pipeline, "location", url)?,
        Source::V4l2(device) => set_source_property(&pipeline, "device", &device.to_string_lossy())?,
        Source::Test | Source::Gst(_) => {}
    }
    let sink = appsink(&pipeline)?;
    let on_frame = delivery.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                match Frame::from_sample(&sample) {
                    Ok(mut frame) => {
                        if let Some(age) = age_at(sink, &sample) {
                            frame.backdate(age);
                        }
                        on_frame.deliver(frame);
                    }
                    Err(error) => on_frame.skip(&error),
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let bus = pipeline.bus().ok_or_else(|| PipelineError::Parse("pipeline without a bus".into()))?;
    let source_name = source.redacted();
    bus.set_sync_handler(move |_, message| {
        match message.view() {
            gst::MessageView::Error(err) => delivery.report_end(SourceEnd::Error(describe_error(err))),
            gst::MessageView::Eos(_) => delivery.report_end(SourceEnd::Eos),
            gst::MessageView::Warning(warning) => {
                let element = message.src().map(|s| s.name().to_string()).unwrap_or_default();
                tracing::warn!(source = %source_name, %element, warning = %warning.error(), "camera warning");
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
    Ok(pipeline)
}

/// Live pipelines hand frames over the moment they are decoded; others (files) are paced to
/// real time by the sink clock.
pub(crate) fn pace(pipeline: &gst::Pipeline, live: bool) -> Result<(), PipelineError> {
    appsink(pipeline)?.set_sync(!live);
    Ok(())
}

/// Stops the pipeline and releases everything it holds.
pub(crate) fn shut_down(pipeline: &gst::Pipeline) {
    if pipeline.set_state(gst::State::Null).is_err() {
        tracing::warn!("pipeline did not stop cleanly");
    }
    if let Some(bus) = pipeline.bus() {
        bus.unset_sync_handler();
    }
}

/// What the source hands to Cuebox's conversion.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Input {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: Option<f64>,
    pub(crate) format: String,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{} {}", self.width, self.height, self.format)?;
        match self.fps {
            Some(fps) => write!(f, " at {} fps", (fps * 100.0).round() / 100.0),
            None => Ok(()),
        }
    }
}

pub(crate) fn input(pipeline: &gst::Pipeline) -> Option<Input> {
    let caps = pipeline.by_name(RATE_NAME)?.static_pad("sink")?.current_caps()?;
    let s = caps.structure(0)?;
    let fps = s.get::<gst::Fraction>("framerate").ok().filter(|f| f.numer() > 0 && f.denom() > 0);
    Some(Input {
        width: u32::try_from(s.get::<i32>("width").ok()?).ok()?,
        height: u32::try_from(s.get::<i32>("height").ok()?).ok()?,
        fps: fps.map(|f| f64::from(f.numer()) / f64::from(f.denom())),
        format: s.get::<&str>("format").unwrap_or(s.name().as_str()).to_owned(),
    })
}

fn appsink(pipeline: &gst::Pipeline) -> Result<gst_app::AppSink, PipelineError> {
    pipeline
        .by_name(SINK_NAME)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| PipelineError::Parse("the pipeline has no appsink".into()))
}

fn set_source_property(pipeline: &gst::Pipeline, name: &str, value: &str) -> Result<(), PipelineError> {
    let source = pipeline.by_name(SOURCE_NAME).ok_or_else(|| PipelineError::Parse("source element missing".into()))?;
    source.set_property_from_str(name, value);
    Ok(())
}

/// How long ago the sample's picture was taken, by the pipeline clock.
fn age_at(sink: &gst_app::AppSink, sample: &gst::Sample) -> Option<Duration> {
    let pts = sample.buffer()?.pts()?;
    let taken = sample.segment()?.downcast_ref::<gst::ClockTime>()?.to_running_time(pts)?;
    let age = Duration::from_nanos(sink.current_running_time()?.checked_sub(taken)?.nseconds());
    (age <= PLAUSIBLE_AGE).then_some(age)
}

fn describe_error(err: &gst::message::Error) -> String {
    let element = err.src().map(|s| s.name().to_string()).unwrap_or_else(|| "pipeline".into());
    match err.debug() {
        Some(debug) => format!("{element}: {} ({debug})", err.error()),
        None => format!("{element}: {}", err.error()),
    }
}

/// The camera mode v4l2src should ask `device` for; `None` for a camera that offers none of
/// YUYV, NV12 and MJPEG (an H.264 or UYVY one), whose format GStreamer then negotiates.
fn v4l2_mode(device: &Path, config: &CaptureConfig) -> Result<Option<ChosenMode>, PipelineError> {
    let source = gst::ElementFactory::make("v4l2src")
        .property_from_str("device", &device.to_string_lossy())
        .build()
        .map_err(|_| PipelineError::MissingElement { element: "v4l2src", package: "gstreamer1.0-plugins-good" })?;
    let opened = source.set_state(gst::State::Ready);
    let caps = source.static_pad("src").map(|pad| pad.query_caps(None));
    let _ = source.set_state(gst::State::Null);
    let caps = match (opened, caps) {
        (Ok(_), Some(caps)) => caps,
        _ => return Err(PipelineError::DeviceUnavailable(device.to_owned())),
    };
    let modes = modes_from_caps(&caps);
    if modes.is_empty() {
        tracing::warn!(device = %device.display(), %caps, "the camera offers none of YUYV, NV12 and MJPEG: GStreamer picks its format");
        return Ok(None);
    }
    let formats = [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Mjpeg];
    choose_mode(&modes, &formats, (config.width, config.height, config.fps), Scaling::MayScaleDown)
        .map(Some)
        .map_err(|error| PipelineError::Mode { device: device.to_owned(), error })
}

/// The modes in v4l2src's caps: one structure per format and size, rates listed or as a range.
pub(crate) fn modes_from_caps(caps: &gst::CapsRef) -> Vec<DeviceMode> {
    caps.iter()
        .filter_map(|s| {
            let format = match (s.name().as_str(), s.get::<&str>("format").ok()) {
                ("image/jpeg", _) => PixelFormat::Mjpeg,
                ("video/x-raw", Some("YUY2")) => PixelFormat::Yuyv,
                ("video/x-raw", Some("NV12")) => PixelFormat::Nv12,
                _ => return None,
            };
            Some(DeviceMode { format, sizes: sizes(s)?, rates: rates(s)? })
        })
        .collect()
}

fn sizes(s: &gst::StructureRef) -> Option<Sizes> {
    let dimension = |name: &str| -> Option<(u32, u32, u32)> {
        if let Ok(v) = s.get::<i32>(name) {
            let v = u32::try_from(v).ok()?;
            return Some((v, v, 1));
        }
        let range = s.get::<gst::IntRange<i32>>(name).ok()?;
        Some((u32::try_from(range.min()).ok()?, u32::try_from(range.max()).ok()?, u32::try_from(range.step()).ok()?))
    };
    match (dimension("width")?, dimension("height")?) {
        ((w, w_max, _), (h, h_max, _)) if w == w_max && h == h_max => Some(Sizes::One { width: w, height: h }),
        (width, height) => Some(Sizes::Range { width, height }),
    }
}

fn rates(s: &gst::StructureRef) -> Option<Rates> {
    let rate =
        |f: gst::Fraction| Some(Rate { num: u32::try_from(f.numer()).ok()?, den: u32::try_from(f.denom()).ok()? });
    if let Ok(f) = s.get::<gst::Fraction>("framerate") {
        return Some(Rates::Listed(vec![rate(f)?]));
    }
    if let Ok(range) = s.get::<gst::FractionRange>("framerate") {
        return Some(Rates::Between(rate(range.min())?, rate(range.max())?));
    }
    let list = s.get::<gst::List>("framerate").ok()?;
    Some(Rates::Listed(list.iter().filter_map(|v| v.get::<gst::Fraction>().ok()).filter_map(rate).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CaptureConfig {
        CaptureConfig { width: 320, height: 240, fps: 15, ..CaptureConfig::default() }
    }

    #[test]
    fn every_description_ends_in_the_bounded_leaky_rgb_sink() {
        for source in [
            Source::Test,
            Source::Gst("videotestsrc".into()),
            Source::File("/a.mp4".into()),
            Source::Rtsp("rtsp://h/s".into()),
        ] {
            for converter in [Converter::Combined, Converter::Separate] {
                let d = description(&source, &config(), None, converter);
                assert!(
                    d.ends_with("appsink name=cuebox_sink max-buffers=1 drop=true sync=true enable-last-sample=false"),
                    "{d}"
                );
                assert!(d.contains("format=RGB,width=320,height=240,pixel-aspect-ratio=1/1"), "{d}");
                assert!(d.contains("videorate name=cuebox_rate max-rate=15 drop-only=true"), "{d}");
            }
        }
    }

    #[test]
    fn a_v4l2_device_is_asked_for_the_chosen_mode() {
        let device = Source::V4l2("/dev/video0".into());
        let mode = |format| ChosenMode { format, width: 1280, height: 720, rate: Rate { num: 30000, den: 1001 } };
        let d = description(&device, &config(), Some(&mode(PixelFormat::Mjpeg)), Converter::Combined);
        assert!(
            d.starts_with(
                "v4l2src name=cuebox_src ! image/jpeg,width=1280,height=720,framerate=30000/1001 ! jpegdec ! "
            ),
            "{d}"
        );
        let d = description(&device, &config(), Some(&mode(PixelFormat::Yuyv)), Converter::Combined);
        assert!(d.starts_with("v4l2src name=cuebox_src ! video/x-raw,format=YUY2,width=1280,height=720,framerate=30000/1001 ! videorate"), "{d}");
        let d = description(&device, &config(), None, Converter::Combined);
        assert!(d.starts_with("v4l2src name=cuebox_src ! decodebin ! videorate"), "an H.264 camera: {d}");
    }

    /// v4l2src's caps for a UVC webcam, in the form `gst-device-monitor-1.0` prints them.
    const WEBCAM_CAPS: &str = "image/jpeg, width=(int)1920, height=(int)1080, pixel-aspect-ratio=(fraction)1/1, framerate=(fraction){ 30/1, 15/1 }; \
        image/jpeg, width=(int)1280, height=(int)720, pixel-aspect-ratio=(fraction)1/1, framerate=(fraction){ 60/1, 30/1 }; \
        video/x-raw, format=(string)YUY2, width=(int)1280, height=(int)720, pixel-aspect-ratio=(fraction)1/1, framerate=(fraction)10/1; \
        video/x-raw, format=(string)YUY2, width=(int)640, height=(int)480, pixel-aspect-ratio=(fraction)1/1, framerate=(fraction){ 30/1, 15/1 }; \
        video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, width=(int)1920, height=(int)1080, framerate=(fraction)30/1; \
        video/x-raw, format=(string)NV12, width=(int)[ 16, 4096, 2 ], height=(int)[ 16, 2160, 2 ], framerate=(fraction)[ 1/1, 25/1 ]";

    #[test]
    fn webcam_caps_become_modes_and_the_best_one_is_chosen() {
        gst::init().unwrap();
        let caps: gst::Caps = WEBCAM_CAPS.parse().unwrap();
        let modes = modes_from_caps(&caps);
        assert_eq!(modes.len(), 5, "H.264 is not read: {modes:#?}");
        assert_eq!(modes[0].rates, Rates::Listed(vec![Rate { num: 30, den: 1 }, Rate { num: 15, den: 1 }]));
        assert_eq!(modes[4].sizes, Sizes::Range { width: (16, 4096, 2), height: (16, 2160, 2) });
        assert_eq!(modes[4].rates, Rates::Between(Rate { num: 1, den: 1 }, Rate { num: 25, den: 1 }));

        let all = [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Mjpeg];
        let pick = |w, h, fps| choose_mode(&modes, &all, (w, h, fps), Scaling::MayScaleDown);
        assert_eq!(pick(640, 480, 30).unwrap().format, PixelFormat::Yuyv);
        assert_eq!(pick(1280, 720, 30).unwrap().format, PixelFormat::Mjpeg);
        let nv12 = pick(800, 600, 25).unwrap();
        assert_eq!((nv12.format, nv12.width, nv12.rate.num), (PixelFormat::Nv12, 800, 25));
        let err = pick(3840, 2160, 30).unwrap_err().to_string();
        assert!(
            err.contains("MJPEG 1920x1080 at up to 30 fps") && err.contains("NV12 16x16 to 4096x2160 at up to 25 fps"),
            "{err}"
        );
    }
}
