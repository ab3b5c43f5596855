use embedded_hal::digital::{OutputPin, PinState};

use crate::level::ActiveLevel;

/// What the status LED says, readable from across the studio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedPattern {
    /// Even slow blink: 0.5 s on, 0.5 s off.
    Booting,
    /// Two flashes every 2 s.
    CameraMissing,
    /// Three flashes every 2 s.
    BrokerDown,
    /// A short heartbeat flash every 2 s: alive, nothing in view.
    Running,
    /// Steadily lit.
    ProductLocked,
    /// Fast blink: 0.1 s on, 0.1 s off.
    Error,
}

impl LedPattern {
    /// Alternating lit and dark durations in milliseconds, starting lit, repeated forever.
    fn cycle_ms(self) -> &'static [u64] {
        match self {
            LedPattern::Booting => &[500, 500],
            LedPattern::CameraMissing => &[150, 150, 150, 1550],
            LedPattern::BrokerDown => &[150, 150, 150, 150, 150, 1250],
            LedPattern::Running => &[100, 1900],
            LedPattern::ProductLocked => &[2000],
            LedPattern::Error => &[100, 100],
        }
    }

    /// Whether the LED is lit `elapsed_ms` after the pattern started.
    pub fn is_lit_at(self, elapsed_ms: u64) -> bool {
        let cycle = self.cycle_ms();
        let into_cycle = elapsed_ms % cycle.iter().sum::<u64>();
        let mut step_end = 0;
        cycle
            .iter()
            .position(|step| {
                step_end += step;
                into_cycle < step_end
            })
            .is_some_and(|step_index| step_index % 2 == 0)
    }
}

/// An on/off output that only touches the pin when its level has to change.
#[derive(Debug)]
struct Output<P> {
    pin: P,
    active: ActiveLevel,
    driven_on: Option<bool>,
}

impl<P: OutputPin> Output<P> {
    fn new(pin: P, active: ActiveLevel) -> Self {
        Output { pin, active, driven_on: None }
    }

    fn drive(&mut self, on: bool) -> Result<(), P::Error> {
        if self.driven_on == Some(on) {
            return Ok(());
        }
        self.pin.set_state(PinState::from(on == self.active.is_high_when_on()))?;
        self.driven_on = Some(on);
        Ok(())
    }
}

/// The status LED. Each pattern plays from its start when it is first asked for, so a change of
/// state always shows a whole, countable blink code.
#[derive(Debug)]
pub struct StatusLed<P> {
    output: Output<P>,
    playing: Option<(LedPattern, u64)>,
}

impl<P: OutputPin> StatusLed<P> {
    pub fn new(pin: P, active: ActiveLevel) -> Self {
        StatusLed { output: Output::new(pin, active), playing: None }
    }

    /// Shows `pattern` at time `now_ms`. Call it at least every 50 ms so the shortest flash
    /// (100 ms) is seen; the pin is written only when the LED turns on or off.
    pub fn update(&mut self, pattern: LedPattern, now_ms: u64) -> Result<(), P::Error> {
        let started_ms = match self.playing {
            Some((playing, started_ms)) if playing == pattern => started_ms,
            _ => now_ms,
        };
        self.playing = Some((pattern, started_ms));
        self.output.drive(pattern.is_lit_at(now_ms.saturating_sub(started_ms)))
    }

    pub fn release(self) -> P {
        self.output.pin
    }
}

/// The tally light: on while a product card is on air.
#[derive(Debug)]
pub struct Tally<P> {
    output: Output<P>,
}

impl<P: OutputPin> Tally<P> {
    pub fn new(pin: P, active: ActiveLevel) -> Self {
        Tally { output: Output::new(pin, active) }
    }

    /// Lights or darkens the tally; the pin is written only on a change.
    pub fn set_on_air(&mut self, on_air: bool) -> Result<(), P::Error> {
        self.output.drive(on_air)
    }

    pub fn release(self) -> P {
        self.output.pin
    }
}
