//! The direct V4L2 backend: the device read with the `v4l` crate, MJPEG and YUYV decoded in
//! Rust. The device I/O sits behind [`FrameDevice`] so the read loop runs on recorded buffers
//! in tests.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use v4l::buffer::Type;
use v4l::format::{Format, FourCC, Quantization};
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;

use crate::Frame;
use crate::convert::{ConvertError, YuvRange, decode_mjpeg, yuyv_to_rgb};
use crate::mode::{ChosenMode, DeviceMode, PixelFormat, Rate, Rates, Sizes};

/// The formats this backend decodes.
pub(crate) const FORMATS: [PixelFormat; 2] = [PixelFormat::Yuyv, PixelFormat::Mjpeg];

const BUFFERS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeviceError {
    #[error("{action} {}: {source}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{}: asked for {asked}, the driver set {got}", .path.display())]
    Refused { path: PathBuf, asked: String, got: String },
    #[error("{}: read before streaming started", .0.display())]
    NotStarted(PathBuf),
}

/// How the bytes of a started device's buffers are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Bytes per row (YUYV).
    pub(crate) stride: usize,
    pub(crate) range: YuvRange,
}

pub(crate) trait FrameDevice {
    fn modes(&mut self) -> Result<Vec<DeviceMode>, DeviceError>;
    /// Sets `mode` and starts streaming.
    fn start(&mut self, mode: &ChosenMode) -> Result<Layout, DeviceError>;
    /// The next filled buffer, or `None` when none came within `timeout`.
    fn next_buffer(&mut self, timeout: Duration) -> Result<Option<&[u8]>, DeviceError>;
}

pub(crate) trait OpenDevice: Send {
    fn open(&self, path: &Path) -> Result<Box<dyn FrameDevice>, DeviceError>;
}

/// The machine's `/dev/video*` devices.
pub(crate) struct SystemDevices;

impl OpenDevice for SystemDevices {
    fn open(&self, path: &Path) -> Result<Box<dyn FrameDevice>, DeviceError> {
        let device = v4l::Device::with_path(path).map_err(|source| io_error("cannot open", path, source))?;
        Ok(Box::new(SystemDevice { device, stream: None, path: path.to_owned() }))
    }
}

struct SystemDevice {
    device: v4l::Device,
    /// `'static`: the stream maps its buffers through its own handle on the device and
    /// borrows nothing.
    stream: Option<Stream<'static>>,
    path: PathBuf,
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> DeviceError {
    DeviceError::Io { action, path: path.to_owned(), source }
}

fn fourcc(format: PixelFormat) -> FourCC {
    FourCC::new(match format {
        PixelFormat::Yuyv => b"YUYV",
        PixelFormat::Nv12 => b"NV12",
        PixelFormat::Mjpeg => b"MJPG",
    })
}

fn pixel_format(fourcc: FourCC) -> Option<PixelFormat> {
    match &fourcc.repr {
        b"YUYV" => Some(PixelFormat::Yuyv),
        b"NV12" => Some(PixelFormat::Nv12),
        b"MJPG" => Some(PixelFormat::Mjpeg),
        _ => None,
    }
}

impl SystemDevice {
    fn rates(&self, fourcc: FourCC, width: u32, height: u32) -> Result<Rates, DeviceError> {
        let intervals = self
            .device
            .enum_frameintervals(fourcc, width, height)
            .map_err(|e| io_error("cannot list rates of", &self.path, e))?;
        // A frame interval is seconds per frame; a rate is its inverse.
        let rate = |interval: v4l::Fraction| Rate { num: interval.denominator, den: interval.numerator };
        let mut listed = Vec::new();
        for interval in intervals {
            match interval.interval {
                FrameIntervalEnum::Discrete(f) => listed.push(rate(f)),
                FrameIntervalEnum::Stepwise(step) => return Ok(Rates::Between(rate(step.max), rate(step.min))),
            }
        }
        Ok(Rates::Listed(listed))
    }
}

impl FrameDevice for SystemDevice {
    fn modes(&mut self) -> Result<Vec<DeviceMode>, DeviceError> {
        let formats = self.device.enum_formats().map_err(|e| io_error("cannot list formats of", &self.path, e))?;
        let mut modes = Vec::new();
        for description in formats {
            let Some(format) = pixel_format(description.fourcc) else { continue };
            let sizes = self
                .device
                .enum_framesizes(description.fourcc)
                .map_err(|e| io_error("cannot list sizes of", &self.path, e))?;
            for size in sizes {
                let (sizes, (w, h)) = match size.size {
                    FrameSizeEnum::Discrete(d) => {
                        (Sizes::One { width: d.width, height: d.height }, (d.width, d.height))
                    }
                    FrameSizeEnum::Stepwise(s) => (
                        Sizes::Range {
                            width: (s.min_width, s.max_width, s.step_width),
                            height: (s.min_height, s.max_height, s.step_height),
                        },
                        (s.max_width, s.max_height),
                    ),
                };
                modes.push(DeviceMode { format, sizes, rates: self.rates(description.fourcc, w, h)? });
            }
        }
        Ok(modes)
    }

    fn start(&mut self, mode: &ChosenMode) -> Result<Layout, DeviceError> {
        let asked = Format::new(mode.width, mode.height, fourcc(mode.format));
        let set = self.device.set_format(&asked).map_err(|e| io_error("cannot set the format of", &self.path, e))?;
        if (set.width, set.height, set.fourcc) != (asked.width, asked.height, asked.fourcc) {
            return Err(DeviceError::Refused {
                path: self.path.clone(),
                asked: format!("{} {}x{}", mode.format, mode.width, mode.height),
                got: format!("{} {}x{}", set.fourcc, set.width, set.height),
            });
        }
        let interval = v4l::Fraction::new(mode.rate.den, mode.rate.num);
        if let Err(error) = self.device.set_params(&Parameters::new(interval)) {
            tracing::warn!(device = %self.path.display(), %error, "the camera keeps its own frame rate");
        }
        let range = match set.quantization {
            Quantization::FullRange => YuvRange::Full,
            Quantization::Default | Quantization::LimitedRange => YuvRange::Limited,
        };
        let stream = Stream::with_buffers(&self.device, Type::VideoCapture, BUFFERS)
            .map_err(|e| io_error("cannot map the buffers of", &self.path, e))?;
        self.stream = Some(stream);
        Ok(Layout { stride: set.stride as usize, range })
    }

    fn next_buffer(&mut self, timeout: Duration) -> Result<Option<&[u8]>, DeviceError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(DeviceError::NotStarted(self.path.clone()));
        };
        stream.set_timeout(timeout);
        match CaptureStream::next(stream) {
            Ok((buffer, meta)) => Ok(Some(buffer.get(..meta.bytesused as usize).unwrap_or(buffer))),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(io_error("cannot read from", &self.path, e)),
        }
    }
}

/// Keeps a camera that runs faster than the configured rate to that rate, on average, without
/// dropping frames from one that runs at it with jitter.
pub(crate) struct RateLimit {
    interval: Duration,
    due: Option<Instant>,
}

impl RateLimit {
    pub(crate) fn new(fps: u32) -> Self {
        Self { interval: Duration::from_secs(1) / fps.max(1), due: None }
    }

    /// Whether the frame that arrived `at` is taken.
    pub(crate) fn admit(&mut self, at: Instant) -> bool {
        let early = self.interval / 4;
        match self.due {
            Some(due) if at + early < due => false,
            Some(due) if at <= due + self.interval => {
                self.due = Some(due + self.interval);
                true
            }
            _ => {
                self.due = Some(at + self.interval);
                true
            }
        }
    }
}

/// Turns the buffers of a started device into frames.
pub(crate) enum Decoder {
    Yuyv { width: u32, height: u32, layout: Layout },
    Mjpeg { width: u32, height: u32 },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("the camera sent a {got_width}x{got_height} picture in a {width}x{height} mode")]
    Size { width: u32, height: u32, got_width: u32, got_height: u32 },
}

impl Decoder {
    /// `None` for formats this backend does not decode.
    pub(crate) fn for_mode(mode: &ChosenMode, layout: Layout) -> Option<Decoder> {
        let (width, height) = (mode.width, mode.height);
        match mode.format {
            PixelFormat::Yuyv => Some(Decoder::Yuyv { width, height, layout }),
            PixelFormat::Mjpeg => Some(Decoder::Mjpeg { width, height }),
            PixelFormat::Nv12 => None,
        }
    }

    pub(crate) fn decode(&self, buffer: &[u8], captured: Instant) -> Result<Frame, DecodeError> {
        match *self {
            Decoder::Yuyv { width, height, layout } => {
                let mut rgb = vec![0; width as usize * height as usize * 3];
                yuyv_to_rgb(buffer, width, height, layout.stride, layout.range, &mut rgb)?;
                Ok(Frame::new(captured, width, height, rgb))
            }
            Decoder::Mjpeg { width, height } => {
                let image = decode_mjpeg(buffer)?;
                if (image.width, image.height) != (width, height) {
                    return Err(DecodeError::Size { width, height, got_width: image.width, got_height: image.height });
                }
                Ok(Frame::new(captured, width, height, image.rgb))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(camera_fps: f64, jitter: bool, fps: u32) -> usize {
        let mut limit = RateLimit::new(fps);
        let start = Instant::now();
        let frames = (camera_fps * 10.0) as u32;
        (0..frames)
            .filter(|&n| {
                let wobble = if jitter && n % 2 == 1 { -2.0 } else { 0.0 };
                limit.admit(start + Duration::from_secs_f64(n as f64 / camera_fps + wobble / 1000.0 + 0.005))
            })
            .count()
    }

    #[test]
    fn a_faster_camera_is_thinned_to_the_configured_rate() {
        assert!((249..=251).contains(&admitted(100.0, false, 25)), "{}", admitted(100.0, false, 25));
        assert!((299..=301).contains(&admitted(60.0, false, 30)), "{}", admitted(60.0, false, 30));
    }

    #[test]
    fn a_camera_at_or_below_the_rate_keeps_every_frame_despite_jitter() {
        assert_eq!(admitted(30.0, true, 30), 300);
        assert_eq!(admitted(29.97, true, 30), 299);
        assert_eq!(admitted(15.0, true, 30), 150);
    }
}
