use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer_video as gst_video;

/// One captured picture, RGB8, tightly packed (row stride = 3 * width).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Increases by one for every frame the source delivers, across restarts.
    pub seq: u64,
    /// When the picture was taken, as well as the source tells (monotonic).
    pub captured: Instant,
    /// The same moment as Unix epoch milliseconds.
    pub captured_unix_ms: u64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("sample without {0}")]
    Missing(&'static str),
    #[error("unreadable caps: {0}")]
    Caps(String),
    #[error("expected RGB, got {0}")]
    NotRgb(String),
    #[error("the buffer cannot be mapped")]
    Map,
    #[error("plane of {len} bytes is too small for {width}x{height} RGB at stride {stride}")]
    PlaneTooSmall { len: usize, width: u32, height: u32, stride: usize },
}

impl Frame {
    /// A frame taken now from an RGB sample, its rows copied without GStreamer's stride
    /// padding. `seq` is 0 until capture numbers it.
    pub fn from_sample(sample: &gst::Sample) -> Result<Frame, FrameError> {
        let captured = Instant::now();
        let buffer = sample.buffer().ok_or(FrameError::Missing("buffer"))?;
        let caps = sample.caps().ok_or(FrameError::Missing("caps"))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| FrameError::Caps(e.to_string()))?;
        if info.format() != gst_video::VideoFormat::Rgb {
            return Err(FrameError::NotRgb(info.format().to_str().to_string()));
        }
        let video = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).map_err(|_| FrameError::Map)?;
        let (width, height) = (info.width(), info.height());
        let plane = video.plane_data(0).map_err(|_| FrameError::Map)?;
        let stride = info.stride().first().and_then(|s| usize::try_from(*s).ok()).unwrap_or(0);
        let row = width as usize * 3;
        let needed = if height == 0 { 0 } else { stride * (height as usize - 1) + row };
        if stride < row || plane.len() < needed {
            return Err(FrameError::PlaneTooSmall { len: plane.len(), width, height, stride });
        }
        let too_small = || FrameError::PlaneTooSmall { len: plane.len(), width, height, stride };
        let rgb = if stride == row {
            plane.get(..row * height as usize).ok_or_else(too_small)?.to_vec()
        } else {
            let mut rgb = Vec::with_capacity(row * height as usize);
            for line in plane.chunks(stride).take(height as usize) {
                rgb.extend_from_slice(line.get(..row).ok_or_else(too_small)?);
            }
            rgb
        };
        Ok(Frame { seq: 0, captured, captured_unix_ms: unix_ms(SystemTime::now()), width, height, rgb })
    }

    /// A frame of `rgb` taken at `captured`.
    pub(crate) fn new(captured: Instant, width: u32, height: u32, rgb: Vec<u8>) -> Frame {
        let unix = SystemTime::now().checked_sub(captured.elapsed()).unwrap_or(UNIX_EPOCH);
        Frame { seq: 0, captured, captured_unix_ms: unix_ms(unix), width, height, rgb }
    }

    /// Moves the capture time `age` into the past: the picture was taken before it reached us.
    pub(crate) fn backdate(&mut self, age: Duration) {
        if let Some(earlier) = self.captured.checked_sub(age) {
            self.captured = earlier;
            self.captured_unix_ms = self.captured_unix_ms.saturating_sub(age.as_millis() as u64);
        }
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GStreamer RGB sample `width` pixels wide whose rows GStreamer pads to 4 bytes, each
    /// row filled with its row number and padded with 0xEE.
    fn padded_sample(width: u32, height: u32) -> gst::Sample {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height).build().unwrap();
        let stride = info.stride()[0] as usize;
        assert!(stride > width as usize * 3, "the test needs padded rows");
        let mut bytes = vec![0xEE; info.size()];
        for (y, row) in bytes.chunks_mut(stride).enumerate() {
            row[..width as usize * 3].fill(y as u8);
        }
        gst::Sample::builder().buffer(&gst::Buffer::from_slice(bytes)).caps(&info.to_caps().unwrap()).build()
    }

    #[test]
    fn rows_are_copied_without_their_padding() {
        let frame = Frame::from_sample(&padded_sample(5, 3)).unwrap();
        assert_eq!((frame.width, frame.height), (5, 3));
        let want: Vec<u8> = (0..3u8).flat_map(|y| [y; 15]).collect();
        assert_eq!(frame.rgb, want);
    }

    #[test]
    fn a_frame_can_be_dated_back() {
        let mut frame = Frame::from_sample(&padded_sample(5, 1)).unwrap();
        let (at, unix_ms) = (frame.captured, frame.captured_unix_ms);
        frame.backdate(Duration::from_millis(40));
        assert_eq!(at - frame.captured, Duration::from_millis(40));
        assert_eq!(unix_ms - frame.captured_unix_ms, 40);
    }

    #[test]
    fn a_sample_that_is_not_rgb_is_refused() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 4, 4).build().unwrap();
        let sample = gst::Sample::builder()
            .buffer(&gst::Buffer::from_slice(vec![0; info.size()]))
            .caps(&info.to_caps().unwrap())
            .build();
        assert!(matches!(Frame::from_sample(&sample), Err(FrameError::NotRgb(format)) if format == "I420"));
    }
}
