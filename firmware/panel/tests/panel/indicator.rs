use cuebox_panel::{ActiveLevel, LedPattern, StatusLed, Tally};
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};

/// Updates the LED with `pattern` every `step_ms` from `from_ms` up to and including `to_ms`.
fn play(led: &mut StatusLed<PinMock>, pattern: LedPattern, from_ms: u64, to_ms: u64, step_ms: u64) {
    for now_ms in (from_ms..=to_ms).step_by(step_ms as usize) {
        led.update(pattern, now_ms).unwrap();
    }
}

#[test]
fn running_heartbeat_flashes_once_every_two_seconds_with_mock_pin() {
    let pin = PinMock::new(&[
        Transaction::set(State::High),
        Transaction::set(State::Low),
        Transaction::set(State::High),
        Transaction::set(State::Low),
    ]);
    let mut led = StatusLed::new(pin, ActiveLevel::High);

    play(&mut led, LedPattern::Running, 0, 2050, 50);
    // The pin was written on the four edges only (0, 100, 2000, 2100 ms): checked by done().
    play(&mut led, LedPattern::Running, 2100, 3950, 50);

    led.release().done();
}

#[test]
fn camera_missing_flashes_twice_then_pauses_with_mock_pin() {
    let pin = PinMock::new(&[
        Transaction::set(State::High), // 0 ms
        Transaction::set(State::Low),  // 150 ms
        Transaction::set(State::High), // 300 ms
        Transaction::set(State::Low),  // 450 ms, dark until 2000 ms
        Transaction::set(State::High), // 2000 ms
    ]);
    let mut led = StatusLed::new(pin, ActiveLevel::High);

    play(&mut led, LedPattern::CameraMissing, 0, 2000, 10);

    led.release().done();
}

#[test]
fn new_pattern_starts_from_its_beginning_with_mock_pin() {
    let pin = PinMock::new(&[
        Transaction::set(State::High), // running heartbeat at 0 ms
        Transaction::set(State::Low),  // heartbeat over at 100 ms
        Transaction::set(State::High), // broker down from 1030 ms: first flash at once
        Transaction::set(State::Low),  // 150 ms later
    ]);
    let mut led = StatusLed::new(pin, ActiveLevel::High);

    play(&mut led, LedPattern::Running, 0, 1020, 10);
    play(&mut led, LedPattern::BrokerDown, 1030, 1170, 10);
    led.update(LedPattern::BrokerDown, 1180).unwrap();

    led.release().done();
}

#[test]
fn active_low_led_is_lit_by_driving_low_with_mock_pin() {
    let pin = PinMock::new(&[Transaction::set(State::Low)]);
    let mut led = StatusLed::new(pin, ActiveLevel::Low);

    play(&mut led, LedPattern::ProductLocked, 0, 5000, 100);

    led.release().done();
}

#[test]
fn failed_pin_write_is_retried_on_the_next_update_with_mock_pin() {
    let pin = PinMock::new(&[
        Transaction::set(State::High).with_error(MockError::Io(std::io::ErrorKind::Other)),
        Transaction::set(State::High),
    ]);
    let mut led = StatusLed::new(pin, ActiveLevel::High);

    assert!(led.update(LedPattern::Error, 0).is_err());
    led.update(LedPattern::Error, 10).unwrap();
    led.update(LedPattern::Error, 20).unwrap();

    led.release().done();
}

/// Rising edges of the LED over `window_ms`, sampled every millisecond.
fn flashes(pattern: LedPattern, window_ms: u64) -> usize {
    (1..window_ms).filter(|&t| pattern.is_lit_at(t) && !pattern.is_lit_at(t - 1)).count()
        + usize::from(pattern.is_lit_at(0))
}

#[test]
fn each_pattern_has_its_own_flash_count() {
    assert_eq!(flashes(LedPattern::Booting, 2000), 2);
    assert_eq!(flashes(LedPattern::CameraMissing, 2000), 2);
    assert_eq!(flashes(LedPattern::BrokerDown, 2000), 3);
    assert_eq!(flashes(LedPattern::Running, 2000), 1);
    assert_eq!(flashes(LedPattern::Error, 2000), 10);
    assert!((0..10_000).all(|t| LedPattern::ProductLocked.is_lit_at(t)));
}

#[test]
fn running_is_mostly_dark_and_booting_half_lit() {
    let lit_ms = |pattern: LedPattern| (0..2000).filter(|&t| pattern.is_lit_at(t)).count();
    assert_eq!(lit_ms(LedPattern::Running), 100);
    assert_eq!(lit_ms(LedPattern::Booting), 1000);
    assert_eq!(lit_ms(LedPattern::BrokerDown), 450);
}

#[test]
fn patterns_keep_repeating_past_the_32_bit_millisecond_wrap() {
    let sixty_days_ms: u64 = 60 * 24 * 3600 * 1000;
    assert!(sixty_days_ms > u64::from(u32::MAX));
    assert!(LedPattern::Running.is_lit_at(sixty_days_ms + 50));
    assert!(!LedPattern::Running.is_lit_at(sixty_days_ms + 150));
}

#[test]
fn tally_follows_on_air_and_writes_only_changes_with_mock_pin() {
    let pin =
        PinMock::new(&[Transaction::set(State::Low), Transaction::set(State::High), Transaction::set(State::Low)]);
    let mut tally = Tally::new(pin, ActiveLevel::High);

    for on_air in [false, false, true, true, true, false, false] {
        tally.set_on_air(on_air).unwrap();
    }

    tally.release().done();
}

#[test]
fn active_low_tally_is_lit_by_driving_low_with_mock_pin() {
    let pin = PinMock::new(&[Transaction::set(State::Low), Transaction::set(State::High)]);
    let mut tally = Tally::new(pin, ActiveLevel::Low);

    tally.set_on_air(true).unwrap();
    tally.set_on_air(false).unwrap();

    tally.release().done();
}
