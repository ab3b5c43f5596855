//! Camera capture: V4L2 devices, RTSP cameras, files and GStreamer pipelines turned into a
//! stream of tightly packed RGB frames, handed to vision through a latest-frame slot that never
//! blocks capture, supervised so that a failing source is rebuilt with backoff. Knows nothing of
//! tract or MQTT.

mod config;
mod convert;
mod delivery;
mod device;
mod frame;
mod mode;
mod pipeline;
mod slot;
mod source;
mod stats;
mod supervisor;

pub use config::{Backend, BackendError, Backoff, CaptureConfig};
pub use convert::{ConvertError, RgbImage, YuvRange, decode_mjpeg, yuyv_to_rgb};
pub use frame::{Frame, FrameError};
pub use slot::FrameSlot;
pub use source::{Source, SourceError};
pub use stats::{CameraState, CaptureStats};
pub use supervisor::{Capture, CaptureError};
