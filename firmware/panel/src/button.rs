use embedded_hal::digital::InputPin;

use crate::level::ActiveLevel;

/// What the host did with the button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEvent {
    /// One quick press ("next cue"). Reported once the double-press gap has passed without a
    /// second press.
    ShortPress,
    /// A press held for the long-press time ("pin/unpin product"). Reported while the button is
    /// still held, so the host gets feedback without letting go.
    LongPress,
    /// Two quick presses, the second starting within the double-press gap.
    DoublePress,
}

/// How presses are told apart. All in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonTiming {
    /// How long the contact must read the same before a press or release counts; shorter
    /// flickers are contact bounce or noise.
    pub debounce_ms: u64,
    /// Holding at least this long makes a long press.
    pub long_press_ms: u64,
    /// The longest pause between releasing and pressing again that still makes a double press.
    /// It is also the delay before a short press is reported.
    pub double_press_gap_ms: u64,
}

impl Default for ButtonTiming {
    fn default() -> Self {
        ButtonTiming { debounce_ms: 25, long_press_ms: 800, double_press_gap_ms: 300 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gesture {
    Idle,
    Held {
        since_ms: u64,
    },
    /// The second press of a possible double press.
    HeldAfterTap {
        since_ms: u64,
    },
    /// Held past the long-press time, which was reported.
    HeldLong,
    /// Pressed and released once; a second press may follow.
    Tapped {
        released_ms: u64,
    },
}

/// Turns raw "is the contact closed" samples into press events. [`Button`] feeds it from a pin;
/// feed it directly when the level comes from elsewhere (an edge-event GPIO line, an expander).
#[derive(Debug, Clone)]
pub struct PressDetector {
    timing: ButtonTiming,
    raw_pressed: bool,
    raw_since_ms: u64,
    gesture: Gesture,
}

impl PressDetector {
    pub fn new(timing: ButtonTiming) -> Self {
        PressDetector { timing, raw_pressed: false, raw_since_ms: 0, gesture: Gesture::Idle }
    }

    /// Takes one sample of the contact at `now_ms` and returns the event it completes, if any.
    /// Sample every 10 ms or so; at most one event comes out per sample.
    pub fn sample(&mut self, raw_pressed: bool, now_ms: u64) -> Option<ButtonEvent> {
        if raw_pressed != self.raw_pressed {
            self.raw_pressed = raw_pressed;
            self.raw_since_ms = now_ms;
        }
        let settled = now_ms.saturating_sub(self.raw_since_ms) >= self.timing.debounce_ms;
        let (gesture, event) = if settled && self.raw_pressed != self.is_held() {
            self.level_settled(self.raw_pressed, self.raw_since_ms)
        } else {
            self.time_passed(now_ms)
        };
        self.gesture = gesture;
        event
    }

    fn is_held(&self) -> bool {
        matches!(self.gesture, Gesture::Held { .. } | Gesture::HeldAfterTap { .. } | Gesture::HeldLong)
    }

    /// The contact has settled `pressed` since `at_ms`.
    fn level_settled(&self, pressed: bool, at_ms: u64) -> (Gesture, Option<ButtonEvent>) {
        match (self.gesture, pressed) {
            (Gesture::Idle, true) => (Gesture::Held { since_ms: at_ms }, None),
            (Gesture::Tapped { released_ms }, true) => {
                if at_ms.saturating_sub(released_ms) <= self.timing.double_press_gap_ms {
                    (Gesture::HeldAfterTap { since_ms: at_ms }, None)
                } else {
                    (Gesture::Held { since_ms: at_ms }, Some(ButtonEvent::ShortPress))
                }
            }
            (Gesture::HeldAfterTap { .. }, false) => (Gesture::Idle, Some(ButtonEvent::DoublePress)),
            (Gesture::Held { .. }, false) => (Gesture::Tapped { released_ms: at_ms }, None),
            (Gesture::HeldLong, false) => (Gesture::Idle, None),
            // The level did not change: `sample` only calls this on a change.
            (gesture, _) => (gesture, None),
        }
    }

    fn time_passed(&self, now_ms: u64) -> (Gesture, Option<ButtonEvent>) {
        // Long only while the contact still reads closed: a release that is settling ends the
        // press first. Single only while it reads open: a second press may be settling.
        let turned_long =
            |since_ms: u64| self.raw_pressed && now_ms.saturating_sub(since_ms) >= self.timing.long_press_ms;
        let gap_passed = |released_ms: u64| {
            !self.raw_pressed && now_ms.saturating_sub(released_ms) > self.timing.double_press_gap_ms
        };
        match self.gesture {
            Gesture::Held { since_ms } if turned_long(since_ms) => (Gesture::HeldLong, Some(ButtonEvent::LongPress)),
            // A tap then a long hold: the tap comes out now, the long press on the next sample.
            Gesture::HeldAfterTap { since_ms } if turned_long(since_ms) => {
                (Gesture::Held { since_ms }, Some(ButtonEvent::ShortPress))
            }
            Gesture::Tapped { released_ms } if gap_passed(released_ms) => {
                (Gesture::Idle, Some(ButtonEvent::ShortPress))
            }
            gesture => (gesture, None),
        }
    }
}

/// A push button on an input pin, debounced in software.
#[derive(Debug)]
pub struct Button<P> {
    pin: P,
    active: ActiveLevel,
    detector: PressDetector,
}

impl<P: InputPin> Button<P> {
    /// `active` is the level the pin reads while pressed: `Low` for a button to ground with a
    /// pull-up.
    pub fn new(pin: P, active: ActiveLevel, timing: ButtonTiming) -> Self {
        Button { pin, active, detector: PressDetector::new(timing) }
    }

    /// Reads the pin once; see [`PressDetector::sample`].
    pub fn poll(&mut self, now_ms: u64) -> Result<Option<ButtonEvent>, P::Error> {
        let pressed = self.pin.is_high()? == self.active.is_high_when_on();
        Ok(self.detector.sample(pressed, now_ms))
    }

    pub fn release(self) -> P {
        self.pin
    }
}
