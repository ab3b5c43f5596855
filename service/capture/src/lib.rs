//! Camera capture: GStreamer sources turned into a stream of tightly packed RGB frames, handed to
//! vision through a latest-frame slot that never blocks capture, supervised so that a failing
//! source is rebuilt with backoff. Knows nothing of tract or MQTT.

mod frame;
mod pipeline;
mod slot;
mod source;
mod supervisor;

pub use frame::Frame;
pub use slot::FrameSlot;
pub use source::{Source, SourceError};
pub use supervisor::{CameraState, Capture, CaptureConfig, CaptureError, CaptureStats};
