use core::fmt::{self, Write};

use display_interface::DisplayError;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_6X10;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, Drawable, Point, Size};
use embedded_graphics::primitives::Rectangle;
use embedded_graphics::text::{Baseline, Text};
use embedded_hal::i2c::I2c;
use ssd1306::mode::{BufferedGraphicsMode, DisplayConfig};
use ssd1306::prelude::{DisplayRotation, DisplaySize128x64, I2CInterface};
use ssd1306::{I2CDisplayInterface, Ssd1306};

use crate::state::{BrokerState, CameraState, Health, PanelState};

/// Text lines on the screen.
pub const LINE_COUNT: usize = 6;
/// Characters that fit on a line: 128 pixels of 6-pixel-wide glyphs.
pub const CHARS_PER_LINE: usize = 21;

const SCREEN_WIDTH: u32 = 128;
const LINE_HEIGHT: u32 = 10;
/// Blank rows under the status header, so it stands apart (and sits in the yellow band of
/// two-colour modules).
const HEADER_GAP: u32 = 4;
const CUT_MARK: char = '~';
/// Wide enough for the most characters a line can hold, each up to 4 bytes of UTF-8.
const LINE_BYTES: usize = CHARS_PER_LINE * 4;

/// One line of text, cut to [`CHARS_PER_LINE`] characters with `~` as the last one when the
/// text was longer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Line {
    text: heapless::String<LINE_BYTES>,
    chars: usize,
    cut: bool,
}

impl Line {
    fn formatted(args: fmt::Arguments<'_>) -> Line {
        let mut line = Line::default();
        // A Line cuts long text instead of failing, and core's own Display impls never fail,
        // so whatever was written is the line.
        let _ = line.write_fmt(args);
        line
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            if self.cut {
                break;
            }
            if self.chars == CHARS_PER_LINE {
                self.text.pop();
                self.text.push(CUT_MARK).map_err(|_| fmt::Error)?;
                self.cut = true;
            } else {
                self.text.push(character).map_err(|_| fmt::Error)?;
                self.chars += 1;
            }
        }
        Ok(())
    }
}

/// The text of the status screen for one [`PanelState`], line by line:
///
/// ```text
/// RUNNING        ON AIR
/// ID cuebox-3f2a9c
/// IP 192.168.1.20
/// CAM live MQTT ok
/// Rose Serum 30 ml
/// 29.9fps RS-30
/// ```
///
/// Characters outside Latin-1 (e.g. Chinese product names) show as `?`; the SKU on the last
/// line still identifies the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenText {
    lines: [Line; LINE_COUNT],
}

impl ScreenText {
    pub fn from_state(state: &PanelState) -> Self {
        let health = match state.health {
            Health::Booting => "BOOTING",
            Health::Running => "RUNNING",
            Health::Error => "ERROR",
        };
        let camera = match state.camera {
            CameraState::Missing => "none",
            CameraState::Live => "live",
        };
        let broker = match state.broker {
            BrokerState::Down => "down",
            BrokerState::Connected => "ok",
        };
        let (product_name, sku) = match state.product {
            Some(product) => (product.name, product.sku),
            None => ("no product", ""),
        };
        let sku_separator = if sku.is_empty() { "" } else { " " };
        // NaN, negative zero and below show as 0; the cap keeps the number to 5 characters.
        let fps = if state.frames_per_second > 0.0 { state.frames_per_second.min(999.9) } else { 0.0 };
        let ip_line = match state.ip_address {
            Some(ip) => Line::formatted(format_args!("IP {ip}")),
            None => Line::formatted(format_args!("IP none")),
        };
        let header = if state.on_air {
            Line::formatted(format_args!("{health:<15}ON AIR"))
        } else {
            Line::formatted(format_args!("{health}"))
        };
        ScreenText {
            lines: [
                header,
                Line::formatted(format_args!("ID {}", state.device_id)),
                ip_line,
                Line::formatted(format_args!("CAM {camera} MQTT {broker}")),
                Line::formatted(format_args!("{product_name}")),
                Line::formatted(format_args!("{fps:.1}fps{sku_separator}{sku}")),
            ],
        }
    }

    pub fn lines(&self) -> [&str; LINE_COUNT] {
        self.lines.each_ref().map(|line| line.text.as_str())
    }
}

/// Top pixel row of line `index`.
fn line_top(index: usize) -> i32 {
    let rows_above = match index {
        0 => 0,
        _ => HEADER_GAP + LINE_HEIGHT * index as u32,
    };
    rows_above as i32
}

/// The screen failed to take an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenError {
    /// An I2C write failed: display unplugged, wrong address or a stuck bus. (The display
    /// interface does not pass the I2C driver's own error on.)
    BusWrite,
    /// The SSD1306 driver refused a request, which points at a bug rather than at the hardware.
    Driver,
}

impl From<DisplayError> for ScreenError {
    fn from(error: DisplayError) -> Self {
        match error {
            DisplayError::BusWriteError => ScreenError::BusWrite,
            _ => ScreenError::Driver,
        }
    }
}

impl fmt::Display for ScreenError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScreenError::BusWrite => formatter.write_str("I2C write to the status screen failed"),
            ScreenError::Driver => formatter.write_str("the SSD1306 driver refused a request"),
        }
    }
}

impl core::error::Error for ScreenError {}

type Display<I2C> = Ssd1306<I2CInterface<I2C>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// The status screen: a 128x64 SSD1306 OLED on I2C, drawn from a [`PanelState`].
pub struct StatusScreen<I2C> {
    display: Display<I2C>,
    /// What the display shows; `None` when that is unknown (before the first update, after
    /// `init` or a failed update).
    shown: Option<ScreenText>,
}

impl<I2C: I2c> StatusScreen<I2C> {
    /// The usual address of SSD1306 modules; some are strapped to 0x3D.
    pub const DEFAULT_ADDRESS: u8 = 0x3C;

    /// Takes the bus; nothing is sent until [`init`](Self::init).
    pub fn new(i2c: I2C, address: u8) -> Self {
        let interface = I2CDisplayInterface::new_custom_address(i2c, address);
        let display =
            Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0).into_buffered_graphics_mode();
        StatusScreen { display, shown: None }
    }

    /// Configures the controller and turns the display on, blank. Call it once before the
    /// first [`show`](Self::show), and again after the module was replugged.
    pub fn init(&mut self) -> Result<(), ScreenError> {
        self.shown = None;
        self.display.init()?;
        Ok(())
    }

    /// Shows `state`, sending only the lines that changed since the last update. Returns
    /// whether anything was sent. A full redraw moves 1 KiB over the bus, so a few updates a
    /// second are plenty.
    pub fn show(&mut self, state: &PanelState) -> Result<bool, ScreenError> {
        let text = ScreenText::from_state(state);
        if self.shown.as_ref() == Some(&text) {
            return Ok(false);
        }
        let drawn = self.draw_changed_lines(&text);
        // After a failed write the display holds a picture we do not know; redraw it all next time.
        self.shown = drawn.is_ok().then_some(text);
        drawn.map(|()| true)
    }

    fn draw_changed_lines(&mut self, text: &ScreenText) -> Result<(), ScreenError> {
        let style = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
        for (index, line) in text.lines.iter().enumerate() {
            if self.shown.as_ref().is_some_and(|shown| shown.lines.get(index) == Some(line)) {
                continue;
            }
            let top_left = Point::new(0, line_top(index));
            let line_area = Rectangle::new(top_left, Size::new(SCREEN_WIDTH, LINE_HEIGHT));
            self.display.fill_solid(&line_area, BinaryColor::Off)?;
            Text::with_baseline(line.text.as_str(), top_left, style, Baseline::Top).draw(&mut self.display)?;
        }
        self.display.flush()?;
        Ok(())
    }

    pub fn release(self) -> I2C {
        self.display.release().release()
    }
}
