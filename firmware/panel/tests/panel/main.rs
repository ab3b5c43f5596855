//! The panel drivers against embedded-hal-mock pins and I2C buses (this machine has no GPIO or
//! I2C hardware): every expectation is checked with `.done()`.

mod button;
mod indicator;
mod screen;
mod state;
