//! The box's own status LED, tally light, "next cue" button and status display, as
//! `#![no_std]` drivers generic over embedded-hal 1.0.
//!
//! The daemon fills in a [`PanelState`] and hands it to the drivers; the drivers never read a
//! clock, every call takes the current time in milliseconds from a monotonic source. Each driver
//! owns its pin or bus and gives it back with `release()`. Nothing allocates.
//!
//! One turn of the daemon's panel loop, run every 10 ms or so:
//!
//! ```
//! use cuebox_panel::{Button, ButtonEvent, PanelState, StatusLed, StatusScreen, Tally};
//! use embedded_hal::digital::{InputPin, OutputPin};
//! use embedded_hal::i2c::I2c;
//!
//! fn panel_tick<B: InputPin, L: OutputPin, T: OutputPin, D: I2c>(
//!     button: &mut Button<B>,
//!     led: &mut StatusLed<L>,
//!     tally: &mut Tally<T>,
//!     screen: &mut StatusScreen<D>,
//!     state: &PanelState,
//!     now_ms: u64,
//! ) -> Result<Option<ButtonEvent>, &'static str> {
//!     led.update(state.led_pattern(), now_ms).map_err(|_| "status LED")?;
//!     tally.set_on_air(state.on_air).map_err(|_| "tally")?;
//!     screen.show(state).map_err(|_| "status screen")?; // sends only lines that changed
//!     // ShortPress: next cue; LongPress: pin/unpin the product.
//!     button.poll(now_ms).map_err(|_| "button")
//! }
//! ```
#![no_std]

mod button;
mod indicator;
mod level;
mod screen;
mod state;

pub use button::{Button, ButtonEvent, ButtonTiming, PressDetector};
pub use indicator::{LedPattern, StatusLed, Tally};
pub use level::ActiveLevel;
pub use screen::{CHARS_PER_LINE, LINE_COUNT, ScreenError, ScreenText, StatusScreen};
pub use state::{BrokerState, CameraState, Health, PanelState, Product};
