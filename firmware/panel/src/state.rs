use core::net::Ipv4Addr;

use crate::indicator::LedPattern;

/// Everything the panel shows, filled in by the daemon. It borrows the daemon's strings, so
/// building one per update costs nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelState<'a> {
    pub health: Health,
    /// The box's id as the admin sees it in provisioning, e.g. `cuebox-3f2a9c`.
    pub device_id: &'a str,
    /// The address the admin types into a browser; `None` while the box has no network.
    pub ip_address: Option<Ipv4Addr>,
    pub camera: CameraState,
    pub broker: BrokerState,
    /// The product the tracker has locked on, if any.
    pub product: Option<Product<'a>>,
    /// Recognition rate over the last second or so.
    pub frames_per_second: f32,
    /// Whether a product card is on the overlay right now; drives the tally.
    pub on_air: bool,
}

impl<'a> PanelState<'a> {
    /// The state from power-on until the daemon knows better.
    pub const fn booting(device_id: &'a str) -> Self {
        PanelState {
            health: Health::Booting,
            device_id,
            ip_address: None,
            camera: CameraState::Missing,
            broker: BrokerState::Down,
            product: None,
            frames_per_second: 0.0,
            on_air: false,
        }
    }

    /// The LED pattern for this state: the most urgent condition wins, in the order error,
    /// booting, camera missing, broker down, product locked, running.
    pub fn led_pattern(&self) -> LedPattern {
        match (self.health, self.camera, self.broker, self.product) {
            (Health::Error, ..) => LedPattern::Error,
            (Health::Booting, ..) => LedPattern::Booting,
            (Health::Running, CameraState::Missing, ..) => LedPattern::CameraMissing,
            (Health::Running, CameraState::Live, BrokerState::Down, _) => LedPattern::BrokerDown,
            (Health::Running, CameraState::Live, BrokerState::Connected, Some(_)) => LedPattern::ProductLocked,
            (Health::Running, CameraState::Live, BrokerState::Connected, None) => LedPattern::Running,
        }
    }
}

/// The daemon's overall condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Starting up: loading the catalog and the models.
    Booting,
    Running,
    /// Something needs the admin; the details are in the logs and the web UI.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    /// No frames are arriving (unplugged, no signal, source restarting).
    Missing,
    /// Frames are arriving.
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    Down,
    Connected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product<'a> {
    pub name: &'a str,
    pub sku: &'a str,
}
