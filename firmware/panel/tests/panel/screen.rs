use std::net::Ipv4Addr;

use cuebox_panel::{
    BrokerState, CHARS_PER_LINE, CameraState, Health, PanelState, Product, ScreenError, ScreenText, StatusScreen,
};
use embedded_graphics::Pixel;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_6X10;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, Drawable, OriginDimensions, Point, Size};
use embedded_graphics::text::{Baseline, Text};
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction};

const ADDRESS: u8 = 0x3C;
const WIDTH: usize = 128;
const PAGES: usize = 8;
/// Top row of each text line: the header, 4 blank rows, then 10-row lines.
const LINE_TOPS: [i32; 6] = [0, 14, 24, 34, 44, 54];

fn live_state() -> PanelState<'static> {
    PanelState {
        health: Health::Running,
        device_id: "cuebox-3f2a9c",
        ip_address: Some(Ipv4Addr::new(192, 168, 1, 20)),
        camera: CameraState::Live,
        broker: BrokerState::Connected,
        product: Some(Product { name: "Rose Serum 30 ml", sku: "RS-30" }),
        frames_per_second: 29.94,
        on_air: true,
    }
}

const LIVE_LINES: [&str; 6] = [
    "RUNNING        ON AIR",
    "ID cuebox-3f2a9c",
    "IP 192.168.1.20",
    "CAM live MQTT ok",
    "Rose Serum 30 ml",
    "29.9fps RS-30",
];

#[test]
fn screen_text_shows_a_running_box_with_a_product_on_air() {
    assert_eq!(ScreenText::from_state(&live_state()).lines(), LIVE_LINES);
}

#[test]
fn screen_text_shows_a_booting_box_without_network() {
    assert_eq!(
        ScreenText::from_state(&PanelState::booting("cuebox-0001")).lines(),
        ["BOOTING", "ID cuebox-0001", "IP none", "CAM none MQTT down", "no product", "0.0fps"]
    );
}

#[test]
fn screen_text_shows_an_error() {
    let state = PanelState { health: Health::Error, on_air: false, ..live_state() };

    assert_eq!(ScreenText::from_state(&state).lines()[0], "ERROR");
}

#[test]
fn long_product_name_is_cut_with_a_mark() {
    let product = Product { name: "Crème hydratante à la rose 50 ml", sku: "CR-50" };
    let state = PanelState { product: Some(product), ..live_state() };

    let text = ScreenText::from_state(&state);

    assert_eq!(text.lines()[4], "Crème hydratante à l~");
    assert_eq!(text.lines()[4].chars().count(), CHARS_PER_LINE);
}

#[test]
fn four_byte_characters_fill_a_whole_line() {
    let name = "🌹".repeat(30);
    let state = PanelState { product: Some(Product { name: &name, sku: "X" }), ..live_state() };

    let expected = format!("{}~", "🌹".repeat(CHARS_PER_LINE - 1));
    assert_eq!(ScreenText::from_state(&state).lines()[4], expected);
}

#[test]
fn name_that_just_fits_is_not_cut() {
    let name = "Exactly 21 characters";
    assert_eq!(name.chars().count(), CHARS_PER_LINE);
    let state = PanelState { product: Some(Product { name, sku: "X" }), ..live_state() };

    assert_eq!(ScreenText::from_state(&state).lines()[4], name);
}

#[test]
fn nonsense_frame_rates_are_shown_in_range() {
    let fps_line = |frames_per_second| {
        let state = PanelState { frames_per_second, product: None, ..live_state() };
        ScreenText::from_state(&state).lines()[5].to_owned()
    };

    assert_eq!(fps_line(f32::NAN), "0.0fps");
    assert_eq!(fps_line(-3.0), "0.0fps");
    assert_eq!(fps_line(-0.0), "0.0fps");
    assert_eq!(fps_line(f32::INFINITY), "999.9fps");
    assert_eq!(fps_line(12.25), "12.2fps");
}

/// A 128x64 monochrome picture drawn independently of the driver, in the SSD1306's memory
/// layout: 8 pages of 8 rows, one byte per column, least significant bit on top.
struct ReferenceFrame {
    pages: [[u8; WIDTH]; PAGES],
}

impl ReferenceFrame {
    fn with_lines(lines: [&str; 6]) -> Self {
        let mut frame = ReferenceFrame { pages: [[0; WIDTH]; PAGES] };
        let style = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
        for (line, top) in lines.into_iter().zip(LINE_TOPS) {
            Text::with_baseline(line, Point::new(0, top), style, Baseline::Top).draw(&mut frame).unwrap();
        }
        frame
    }

    fn lit_pixels(&self, page: usize) -> u32 {
        self.pages[page].iter().map(|byte| byte.count_ones()).sum()
    }
}

impl OriginDimensions for ReferenceFrame {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, (PAGES * 8) as u32)
    }
}

impl DrawTarget for ReferenceFrame {
    type Color = BinaryColor;
    type Error = std::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<BinaryColor>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        for Pixel(point, color) in pixels {
            let (x, y) = (point.x as usize, point.y as usize);
            let bit = 1 << (y % 8);
            if color.is_on() {
                self.pages[y / 8][x] |= bit;
            } else {
                self.pages[y / 8][x] &= !bit;
            }
        }
        Ok(())
    }
}

fn command(bytes: &[u8]) -> Transaction {
    Transaction::write(ADDRESS, [&[0x00], bytes].concat())
}

/// What `init` sends: 128x64 panel, charge pump on, horizontal addressing, not rotated.
fn init_commands() -> Vec<Transaction> {
    [
        &[0xAE][..],   // display off
        &[0xD5, 0x80], // clock divide
        &[0xA8, 0x3F], // multiplex: 64 rows
        &[0xD3, 0x00], // display offset
        &[0x40],       // start line 0
        &[0x8D, 0x14], // charge pump on
        &[0x20, 0x00], // horizontal addressing
        &[0xDA, 0x12], // COM pins for 128x64
        &[0xA1],       // segment remap
        &[0xC8],       // COM scan reversed
        &[0xD9, 0x21], // pre-charge
        &[0x81, 0x5F], // contrast
        &[0xDB, 0x40], // VCOMH
        &[0xA4],       // show RAM
        &[0xA6],       // not inverted
        &[0x2E],       // scrolling off
        &[0xAF],       // display on
    ]
    .into_iter()
    .map(command)
    .collect()
}

/// What a flush of whole-width pages `first..=last` of `frame` sends: the window, then the
/// data 16 bytes per write.
fn pages_sent(frame: &ReferenceFrame, first: u8, last: u8) -> Vec<Transaction> {
    let mut transactions = vec![command(&[0x21, 0, 127]), command(&[0x22, first, last])];
    for page in &frame.pages[first as usize..=last as usize] {
        for chunk in page.chunks(16) {
            transactions.push(Transaction::write(ADDRESS, [&[0x40], chunk].concat()));
        }
    }
    transactions
}

#[test]
fn reference_frame_of_the_live_screen_is_not_blank() {
    let frame = ReferenceFrame::with_lines(LIVE_LINES);

    assert!((0..PAGES).all(|page| frame.lit_pixels(page) > 0));
}

#[test]
fn first_show_sends_the_whole_screen_with_mock_i2c() {
    let mut expected = init_commands();
    expected.extend(pages_sent(&ReferenceFrame::with_lines(LIVE_LINES), 0, 7));
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    screen.init().unwrap();
    assert_eq!(screen.show(&live_state()), Ok(true));
    // Same state again: nothing goes over the bus (the mock would panic on a write).
    assert_eq!(screen.show(&live_state()), Ok(false));

    screen.release().done();
}

#[test]
fn changed_frame_rate_resends_only_the_bottom_line_with_mock_i2c() {
    let mut lines = LIVE_LINES;
    lines[5] = "12.5fps RS-30";
    let mut expected = init_commands();
    expected.extend(pages_sent(&ReferenceFrame::with_lines(LIVE_LINES), 0, 7));
    // The bottom line covers rows 54..63: pages 6 and 7.
    expected.extend(pages_sent(&ReferenceFrame::with_lines(lines), 6, 7));
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    screen.init().unwrap();
    screen.show(&live_state()).unwrap();
    let slower = PanelState { frames_per_second: 12.5, ..live_state() };
    assert_eq!(screen.show(&slower), Ok(true));

    screen.release().done();
}

#[test]
fn going_off_air_resends_only_the_header_with_mock_i2c() {
    let mut lines = LIVE_LINES;
    lines[0] = "RUNNING";
    let mut expected = init_commands();
    expected.extend(pages_sent(&ReferenceFrame::with_lines(LIVE_LINES), 0, 7));
    // The header covers rows 0..9: pages 0 and 1.
    expected.extend(pages_sent(&ReferenceFrame::with_lines(lines), 0, 1));
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    screen.init().unwrap();
    screen.show(&live_state()).unwrap();
    assert_eq!(screen.show(&PanelState { on_air: false, ..live_state() }), Ok(true));

    screen.release().done();
}

#[test]
fn failed_write_makes_the_next_show_redraw_everything_with_mock_i2c() {
    let frame = ReferenceFrame::with_lines(LIVE_LINES);
    let mut expected = init_commands();
    expected.push(
        command(&[0x21, 0, 127]).with_error(ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address)),
    );
    expected.extend(pages_sent(&frame, 0, 7));
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    screen.init().unwrap();
    assert_eq!(screen.show(&live_state()), Err(ScreenError::BusWrite));
    assert_eq!(screen.show(&live_state()), Ok(true));

    screen.release().done();
}

#[test]
fn init_on_a_missing_display_fails_with_mock_i2c() {
    let expected =
        [command(&[0xAE]).with_error(ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address))];
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    let error = screen.init().unwrap_err();

    assert_eq!(error, ScreenError::BusWrite);
    assert_eq!(error.to_string(), "I2C write to the status screen failed");
    screen.release().done();
}

#[test]
fn init_again_forgets_what_was_shown_with_mock_i2c() {
    let frame = ReferenceFrame::with_lines(LIVE_LINES);
    let mut expected = init_commands();
    expected.extend(pages_sent(&frame, 0, 7));
    expected.extend(init_commands());
    expected.extend(pages_sent(&frame, 0, 7));
    let mut screen = StatusScreen::new(I2cMock::new(&expected), ADDRESS);

    screen.init().unwrap();
    screen.show(&live_state()).unwrap();
    // E.g. the module was replugged: it is blank again, so the same state is drawn again.
    screen.init().unwrap();
    assert_eq!(screen.show(&live_state()), Ok(true));

    screen.release().done();
}
