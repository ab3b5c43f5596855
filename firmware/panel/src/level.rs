/// Which electrical level of a pin means "on" (lit, on air, pressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveLevel {
    /// On when the pin is high: an LED wired from the pin to ground.
    High,
    /// On when the pin is low: an LED wired from the supply to the pin, or a button to ground
    /// with a pull-up.
    Low,
}

impl ActiveLevel {
    pub(crate) fn is_high_when_on(self) -> bool {
        self == ActiveLevel::High
    }
}
