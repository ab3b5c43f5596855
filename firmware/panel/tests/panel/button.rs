use cuebox_panel::{ActiveLevel, Button, ButtonEvent, ButtonTiming, PressDetector};
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};

const SAMPLE_MS: u64 = 5;

/// A contact's raw readings, one per `SAMPLE_MS`, built from (duration, pressed) runs.
fn contact(runs: &[(u64, bool)]) -> Vec<bool> {
    runs.iter()
        .flat_map(|&(duration_ms, pressed)| std::iter::repeat_n(pressed, (duration_ms / SAMPLE_MS) as usize))
        .collect()
}

/// Contact bounce: `flips` alternating readings of one sample each, starting with `pressed`.
fn bounce(flips: usize, pressed: bool) -> Vec<(u64, bool)> {
    (0..flips).map(|flip| (SAMPLE_MS, pressed ^ (flip % 2 == 1))).collect()
}

/// Polls an active-low button (pressed reads low) through a mock pin that plays `readings`,
/// and returns the events with the time they came out.
fn events_from_mock_pin(readings: &[bool]) -> Vec<(u64, ButtonEvent)> {
    let transactions: Vec<Transaction> =
        readings.iter().map(|&pressed| Transaction::get(if pressed { State::Low } else { State::High })).collect();
    let mut button = Button::new(PinMock::new(&transactions), ActiveLevel::Low, ButtonTiming::default());

    let mut events = Vec::new();
    for sample in 0..readings.len() as u64 {
        let now_ms = sample * SAMPLE_MS;
        if let Some(event) = button.poll(now_ms).unwrap() {
            events.push((now_ms, event));
        }
    }

    button.release().done();
    events
}

#[test]
fn clean_short_press_is_reported_after_the_double_press_gap_with_mock_pin() {
    let readings = contact(&[(100, false), (100, true), (600, false)]);

    // Released at 200 ms; the gap (300 ms) must pass before it is a single press.
    assert_eq!(events_from_mock_pin(&readings), [(505, ButtonEvent::ShortPress)]);
}

#[test]
fn noisy_press_with_bouncing_contacts_is_one_short_press_with_mock_pin() {
    let mut runs = vec![(100, false)];
    runs.extend(bounce(7, true));
    runs.push((120, true));
    runs.extend(bounce(5, false));
    runs.push((600, false));

    // The contact last opened at 275 ms; the press counts from there.
    assert_eq!(events_from_mock_pin(&contact(&runs)), [(580, ButtonEvent::ShortPress)]);
}

#[test]
fn spikes_shorter_than_the_debounce_time_are_ignored_with_mock_pin() {
    let readings = contact(&[(100, false), (5, true), (50, false), (10, true), (50, false), (20, true), (500, false)]);

    assert_eq!(events_from_mock_pin(&readings), []);
}

#[test]
fn long_press_is_reported_while_still_held_and_nothing_on_release_with_mock_pin() {
    let readings = contact(&[(100, false), (1500, true), (1000, false)]);

    // Pressed at 100 ms, long after 800 ms of holding.
    assert_eq!(events_from_mock_pin(&readings), [(900, ButtonEvent::LongPress)]);
}

#[test]
fn two_quick_presses_are_one_double_press_with_mock_pin() {
    let readings = contact(&[(100, false), (80, true), (150, false), (80, true), (600, false)]);

    // Second release at 410 ms, settled after the 25 ms debounce time.
    assert_eq!(events_from_mock_pin(&readings), [(435, ButtonEvent::DoublePress)]);
}

#[test]
fn noisy_double_press_is_still_one_double_press_with_mock_pin() {
    let mut runs = vec![(100, false)];
    runs.extend(bounce(5, true));
    runs.push((60, true));
    runs.extend(bounce(3, false));
    runs.push((120, false));
    runs.extend(bounce(5, true));
    runs.push((60, true));
    runs.extend(bounce(3, false));
    runs.push((600, false));

    let events = events_from_mock_pin(&contact(&runs));

    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, ButtonEvent::DoublePress);
}

#[test]
fn presses_further_apart_than_the_gap_are_two_short_presses_with_mock_pin() {
    let readings = contact(&[(100, false), (80, true), (400, false), (80, true), (600, false)]);

    assert_eq!(events_from_mock_pin(&readings), [(485, ButtonEvent::ShortPress), (965, ButtonEvent::ShortPress)]);
}

#[test]
fn tap_then_long_hold_is_a_short_press_then_a_long_press_with_mock_pin() {
    let readings = contact(&[(100, false), (80, true), (100, false), (1200, true), (300, false)]);

    // The hold starts at 280 ms and turns long at 1080 ms: the tap comes out first.
    assert_eq!(events_from_mock_pin(&readings), [(1080, ButtonEvent::ShortPress), (1085, ButtonEvent::LongPress)]);
}

#[test]
fn pin_read_error_is_passed_on_with_mock_pin() {
    let error = MockError::Io(std::io::ErrorKind::BrokenPipe);
    let pin = PinMock::new(&[Transaction::get(State::High).with_error(error.clone())]);
    let mut button = Button::new(pin, ActiveLevel::Low, ButtonTiming::default());

    assert_eq!(button.poll(0), Err(error));

    button.release().done();
}

#[test]
fn active_high_button_reads_high_as_pressed_with_mock_pin() {
    let mut transactions = vec![Transaction::get(State::High); 200];
    transactions.extend(vec![Transaction::get(State::Low); 10]);
    let mut button = Button::new(PinMock::new(&transactions), ActiveLevel::High, ButtonTiming::default());

    let events: Vec<ButtonEvent> = (0..210).filter_map(|sample| button.poll(sample * SAMPLE_MS).unwrap()).collect();

    assert_eq!(events, [ButtonEvent::LongPress]);
    button.release().done();
}

#[test]
fn custom_timing_changes_what_counts_as_long() {
    let timing = ButtonTiming { debounce_ms: 10, long_press_ms: 300, double_press_gap_ms: 200 };
    let mut detector = PressDetector::new(timing);

    let events: Vec<(u64, ButtonEvent)> = (0..100u64)
        .filter_map(|sample| {
            let now_ms = sample * SAMPLE_MS;
            let pressed = (50..400).contains(&now_ms);
            detector.sample(pressed, now_ms).map(|event| (now_ms, event))
        })
        .collect();

    assert_eq!(events, [(350, ButtonEvent::LongPress)]);
}
