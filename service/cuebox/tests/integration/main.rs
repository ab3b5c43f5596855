//! Integration tests of the `cuebox` binary on real parts: GStreamer on the demo footage,
//! tract on the real model, sled on disk, Debian's mosquitto.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, expect or index fails the test"
)]

mod attack;
mod chat;
mod cli;
mod content;
mod daemon;
mod mqtt;
mod recognition;
mod security;
mod standin;
mod studio;
mod support;
mod systemd;
