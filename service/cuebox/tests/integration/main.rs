//! Integration tests of the `cuebox` binary on real parts: GStreamer on the demo footage,
//! tract on the real model, sled on disk, Debian's mosquitto.

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
