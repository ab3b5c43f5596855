//! The panel drivers against embedded-hal-mock pins and I2C buses (this machine has no GPIO or
//! I2C hardware): every expectation is checked with `.done()`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, expect or index fails the test"
)]

mod button;
mod indicator;
mod screen;
mod state;
