//! The box's own status LED, tally, button and status display, as `#![no_std]` drivers generic
//! over embedded-hal 1.0. Nothing is here yet.
#![no_std]
