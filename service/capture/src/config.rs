use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Source;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Played in turn; files loop, a failing source is retried.
    pub sources: Vec<Source>,
    pub width: u32,
    pub height: u32,
    /// Most frames per second delivered.
    pub fps: u32,
    /// A source that delivers no frame for this long is treated as failed.
    pub stall_timeout: Duration,
    /// How `v4l2://` sources are read; every other source goes through GStreamer.
    pub backend: Backend,
    /// The wait before rebuilding a failed source.
    pub backoff: Backoff,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            sources: vec![Source::Test],
            width: 640,
            height: 480,
            fps: 30,
            stall_timeout: Duration::from_secs(5),
            backend: Backend::Gstreamer,
            backoff: Backoff::default(),
        }
    }
}

/// How a V4L2 device is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// `v4l2src` and GStreamer's decoders and converters.
    #[default]
    Gstreamer,
    /// The device read directly (`v4l` crate); MJPEG and YUYV decoded in Rust. For boxes whose
    /// GStreamer lacks the plugins their camera needs.
    V4l,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("capture backend {0:?}: expected \"gstreamer\" or \"v4l\"")]
pub struct BackendError(String);

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "gstreamer" => Ok(Backend::Gstreamer),
            "v4l" => Ok(Backend::V4l),
            other => Err(BackendError(other.to_owned())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Gstreamer => "gstreamer",
            Backend::V4l => "v4l",
        })
    }
}

/// A doubling wait between rebuilds, back to `first` once a rebuilt source delivers a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_millis(100), max: Duration::from_secs(3) }
    }
}

impl Backoff {
    pub(crate) fn next(&self, current: Duration) -> Duration {
        (current * 2).clamp(self.first, self.max.max(self.first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip_and_others_are_refused() {
        for backend in [Backend::Gstreamer, Backend::V4l] {
            assert_eq!(backend.to_string().parse::<Backend>(), Ok(backend));
        }
        assert_eq!(
            "V4L2".parse::<Backend>().unwrap_err().to_string(),
            "capture backend \"V4L2\": expected \"gstreamer\" or \"v4l\""
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff::default();
        let waits: Vec<u128> = std::iter::successors(Some(backoff.first), |w| Some(backoff.next(*w)))
            .take(7)
            .map(|w| w.as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3000, 3000]);
    }
}
