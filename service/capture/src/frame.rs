use std::time::Instant;

/// One captured picture, RGB8, tightly packed (row stride = 3 * width).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Increases by one for every frame the source delivers, across restarts.
    pub seq: u64,
    /// When the frame left the pipeline (monotonic).
    pub captured: Instant,
    /// The same moment as Unix epoch milliseconds.
    pub captured_unix_ms: u64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}
