//! The box's own button, status LED, tally light and status screen ([hardware] in the
//! configuration): the `no_std` drivers of cuebox-panel on Linux GPIO lines (gpio-cdev) and an
//! I2C bus (i2cdev), on a thread of their own. The lights and the screen follow the daemon's
//! state; the button is a host command (short press: next cue; double press: previous cue;
//! long press: pin or unpin the product on air). A part that cannot be opened, or that fails
//! later, is reported once and left out; the daemon runs on without it.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::CaptureStats;
use cuebox_catalog::Store;
use cuebox_panel::{
    ActiveLevel, BrokerState, Button, ButtonEvent, ButtonTiming, CameraState, Health, PanelState, Product, StatusLed,
    StatusScreen, Tally,
};
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::i2c::I2c;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::{CdevPin, I2cdev};
use tokio::sync::mpsc;

use crate::chat::OnAir;
use crate::config::{HardwareSettings, Line};
use crate::engine::EngineInput;
use crate::messages::{Command, CueAction};
use crate::metrics::Metrics;
use crate::worker::Worker;

/// How often the button is read and the lights are driven: the shortest LED flash is 100 ms
/// and the button's debounce 25 ms.
const TICK: Duration = Duration::from_millis(10);
/// How often the box's address is looked up again.
const ADDRESS_EVERY: Duration = Duration::from_secs(5);

/// The parts that are present (any may be missing), and those that failed and are left out.
pub struct Panel<B, L, T, D> {
    pub button: Option<Button<B>>,
    pub led: Option<StatusLed<L>>,
    pub tally: Option<Tally<T>>,
    pub screen: Option<StatusScreen<D>>,
    failed: Failed,
}

#[derive(Default)]
struct Failed {
    button: bool,
    led: bool,
    tally: bool,
    screen: bool,
}

impl<B: InputPin, L: OutputPin, T: OutputPin, D: I2c> Panel<B, L, T, D> {
    pub fn new(
        button: Option<Button<B>>,
        led: Option<StatusLed<L>>,
        tally: Option<Tally<T>>,
        screen: Option<StatusScreen<D>>,
    ) -> Self {
        Self { button, led, tally, screen, failed: Failed::default() }
    }

    /// Whether no part is left to drive.
    fn is_empty(&self) -> bool {
        (self.button.is_none() || self.failed.button)
            && (self.led.is_none() || self.failed.led)
            && (self.tally.is_none() || self.failed.tally)
            && (self.screen.is_none() || self.failed.screen)
    }

    /// One turn: the lights and the screen show `state`; a button gesture becomes a command.
    /// A part that fails is reported once and left out from then on.
    pub fn tick(&mut self, state: &PanelState, now_ms: u64) -> Option<Command> {
        if let Some(led) = self.led.as_mut().filter(|_| !self.failed.led)
            && let Err(error) = led.update(state.led_pattern(), now_ms)
        {
            tracing::warn!(error = ?error, "status LED failed: left out from now on");
            self.failed.led = true;
        }
        if let Some(tally) = self.tally.as_mut().filter(|_| !self.failed.tally)
            && let Err(error) = tally.set_on_air(state.on_air)
        {
            tracing::warn!(error = ?error, "tally light failed: left out from now on");
            self.failed.tally = true;
        }
        if let Some(screen) = self.screen.as_mut().filter(|_| !self.failed.screen)
            && let Err(error) = screen.show(state)
        {
            tracing::warn!(error = ?error, "status screen failed: left out from now on");
            self.failed.screen = true;
        }
        let event = match self.button.as_mut().filter(|_| !self.failed.button).map(|button| button.poll(now_ms)) {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                tracing::warn!(error = ?error, "button failed: left out from now on");
                self.failed.button = true;
                None
            }
            None => None,
        };
        event.map(|event| match event {
            ButtonEvent::ShortPress => Command::Cue(CueAction::Next),
            ButtonEvent::DoublePress => Command::Cue(CueAction::Prev),
            ButtonEvent::LongPress => Command::TogglePin,
        })
    }
}

/// Where the panel reads the daemon's state and sends the button's commands.
pub struct PanelInputs {
    pub device_id: String,
    pub capture: Arc<CaptureStats>,
    pub metrics: Arc<Metrics>,
    pub on_air: OnAir,
    pub store: Arc<Store>,
    pub engine: mpsc::Sender<EngineInput>,
}

type LinuxPanel = Panel<CdevPin, CdevPin, CdevPin, I2cdev>;

/// Opens the configured parts and drives them on their own thread; `None` when there is no
/// panel hardware (said once in the log).
pub fn spawn(settings: &HardwareSettings, inputs: PanelInputs) -> anyhow::Result<Option<Worker>> {
    if settings.is_empty() {
        tracing::info!("no panel hardware configured ([hardware]): no button, lights or status screen");
        return Ok(None);
    }
    let panel = open(settings);
    if panel.is_empty() {
        tracing::warn!(
            "none of the configured panel hardware could be opened: running without button, lights or status screen"
        );
        return Ok(None);
    }
    let parts = [
        ("button", panel.button.is_some()),
        ("status LED", panel.led.is_some()),
        ("tally", panel.tally.is_some()),
        ("screen", panel.screen.is_some()),
    ];
    let present: Vec<&str> = parts.iter().filter(|(_, present)| *present).map(|(name, _)| *name).collect();
    tracing::info!(parts = %present.join(", "), "panel hardware in use");
    let settings = settings.clone();
    let metrics = inputs.metrics.clone();
    let mut opened = Some(panel);
    Worker::spawn("panel", &metrics.workers, move |stop| {
        // After a failure the parts are opened again.
        let panel = opened.take().unwrap_or_else(|| open(&settings));
        run(panel, &inputs, stop);
        Ok(())
    })
    .map(Some)
}

fn open(settings: &HardwareSettings) -> LinuxPanel {
    let line = |name: &str, line: Option<Line>, flags: LineRequestFlags| -> Option<(CdevPin, ActiveLevel)> {
        let line = line?;
        let chip = settings.gpio_chip.as_deref()?;
        match request(chip, line.offset, flags) {
            Ok(pin) => Some((pin, if line.active_low { ActiveLevel::Low } else { ActiveLevel::High })),
            Err(error) => {
                tracing::warn!(part = name, chip = %chip.display(), line = line.offset, error = %format!("{error:#}"), "panel part not present: left out");
                None
            }
        }
    };
    let screen = settings.screen.as_ref().and_then(|(bus, address)| {
        let opened = I2cdev::new(bus).map_err(anyhow::Error::from).and_then(|i2c| {
            let mut screen = StatusScreen::new(i2c, *address);
            screen.init().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(screen)
        });
        match opened {
            Ok(screen) => Some(screen),
            Err(error) => {
                tracing::warn!(part = "screen", bus = %bus.display(), address = format!("{address:#x}"), error = %format!("{error:#}"), "panel part not present: left out");
                None
            }
        }
    });
    Panel::new(
        line("button", settings.button, LineRequestFlags::INPUT)
            .map(|(pin, level)| Button::new(pin, level, ButtonTiming::default())),
        line("status LED", settings.status_led, LineRequestFlags::OUTPUT)
            .map(|(pin, level)| StatusLed::new(pin, level)),
        line("tally", settings.tally, LineRequestFlags::OUTPUT).map(|(pin, level)| Tally::new(pin, level)),
        screen,
    )
}

fn request(chip: &Path, offset: u32, flags: LineRequestFlags) -> anyhow::Result<CdevPin> {
    let mut chip = Chip::new(chip).context("opening the GPIO chip")?;
    let handle =
        chip.get_line(offset).and_then(|line| line.request(flags, 0, "cuebox")).context("requesting the line")?;
    CdevPin::new(handle).context("reading the line's settings")
}

fn run<B: InputPin, L: OutputPin, T: OutputPin, D: I2c>(
    mut panel: Panel<B, L, T, D>,
    inputs: &PanelInputs,
    stop: &std::sync::atomic::AtomicBool,
) {
    let started = Instant::now();
    let mut view = StateView::default();
    while !stop.load(Ordering::Relaxed) && !panel.is_empty() {
        let now = Instant::now();
        view.refresh(inputs, now);
        let state = view.state(&inputs.device_id, inputs);
        if let Some(command) = panel.tick(&state, now.duration_since(started).as_millis() as u64)
            && inputs.engine.try_send(EngineInput::Command(command)).is_err()
        {
            inputs.metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("the engine is busy: a button press was dropped");
        }
        std::thread::sleep(TICK);
    }
}

/// What the panel shows, refreshed from the daemon's state each turn (the address and the frame
/// rate less often).
#[derive(Default)]
struct StateView {
    ip_address: Option<Ipv4Addr>,
    address_checked: Option<Instant>,
    frames: Option<(Instant, u64)>,
    frames_per_second: f32,
    product: Option<(String, String)>,
}

impl StateView {
    fn refresh(&mut self, inputs: &PanelInputs, now: Instant) {
        if self.address_checked.is_none_or(|at| now.duration_since(at) >= ADDRESS_EVERY) {
            self.ip_address = outgoing_address();
            self.address_checked = Some(now);
        }
        let frames_in = inputs.capture.frames_in();
        match self.frames {
            Some((at, before)) if now.duration_since(at) >= Duration::from_secs(1) => {
                self.frames_per_second =
                    (frames_in.saturating_sub(before)) as f32 / now.duration_since(at).as_secs_f32();
                self.frames = Some((now, frames_in));
            }
            Some(_) => {}
            None => self.frames = Some((now, frames_in)),
        }
        let sku = inputs.on_air.get();
        if self.product.as_ref().map(|(known, _)| known) != sku.as_ref() {
            self.product = sku.map(|sku| {
                let name = inputs
                    .store
                    .product(&sku)
                    .ok()
                    .flatten()
                    .and_then(|p| p.name.first("en", "en").map(str::to_owned))
                    .unwrap_or_else(|| sku.clone());
                (sku, name)
            });
        }
    }

    fn state<'a>(&'a self, device_id: &'a str, inputs: &PanelInputs) -> PanelState<'a> {
        let camera = match inputs.capture.state() {
            cuebox_capture::CameraState::Streaming => CameraState::Live,
            _ => CameraState::Missing,
        };
        let broker = if inputs.metrics.mqtt_connected.load(Ordering::Relaxed) {
            BrokerState::Connected
        } else {
            BrokerState::Down
        };
        let product = self.product.as_ref().map(|(sku, name)| Product { name, sku });
        PanelState {
            health: if inputs.capture.frames_in() > 0 { Health::Running } else { Health::Booting },
            device_id,
            ip_address: self.ip_address,
            camera,
            broker,
            product,
            frames_per_second: self.frames_per_second,
            on_air: product.is_some(),
        }
    }
}

/// The address other machines reach this box at: the source address of the default route
/// (a UDP socket is only connected, nothing is sent).
fn outgoing_address() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuebox_catalog::parse_catalog;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTransaction};
    use embedded_hal_mock::eh1::i2c::Mock as I2cMock;

    use crate::engine::{Engine, VisionChange};
    use crate::mqtt::{Outbox, Topic};

    type MockPanel = Panel<PinMock, PinMock, PinMock, I2cMock>;

    fn state(on_air: bool) -> PanelState<'static> {
        PanelState {
            health: Health::Running,
            device_id: "studio-a",
            ip_address: Some(Ipv4Addr::new(192, 168, 1, 20)),
            camera: CameraState::Live,
            broker: BrokerState::Connected,
            product: on_air.then_some(Product { name: "Tea", sku: "A" }),
            frames_per_second: 25.0,
            on_air,
        }
    }

    /// Button reads for a press held `held` ticks of 10 ms, then released for `after` ticks.
    fn press(held: usize, after: usize) -> Vec<PinTransaction> {
        let mut reads = vec![PinTransaction::get(State::High); 5];
        reads.extend(vec![PinTransaction::get(State::Low); held]);
        reads.extend(vec![PinTransaction::get(State::High); after]);
        reads
    }

    /// Ticks the panel once per button read, 10 ms apart, collecting the commands.
    fn ticks(panel: &mut MockPanel, reads: usize, state: &PanelState) -> Vec<Command> {
        (0..reads).filter_map(|tick| panel.tick(state, tick as u64 * 10)).collect()
    }

    fn button_only(reads: &[PinTransaction]) -> MockPanel {
        Panel::new(Some(Button::new(PinMock::new(reads), ActiveLevel::Low, ButtonTiming::default())), None, None, None)
    }

    #[test]
    fn mock_button_gestures_become_host_commands() {
        let reads = press(10, 40);
        let mut panel = button_only(&reads);
        assert_eq!(ticks(&mut panel, reads.len(), &state(false)), [Command::Cue(CueAction::Next)]);
        panel.button.take().unwrap().release().done();

        let reads = press(100, 10);
        let mut panel = button_only(&reads);
        assert_eq!(ticks(&mut panel, reads.len(), &state(false)), [Command::TogglePin]);
        panel.button.take().unwrap().release().done();
    }

    #[test]
    fn mock_tally_and_led_follow_the_state() {
        let tally =
            [PinTransaction::set(State::Low), PinTransaction::set(State::High), PinTransaction::set(State::Low)];
        // Running: a 100 ms heartbeat flash every 2 s; product locked: steadily lit.
        let led = [PinTransaction::set(State::High), PinTransaction::set(State::Low), PinTransaction::set(State::High)];
        let mut panel: MockPanel = Panel::new(
            None,
            Some(StatusLed::new(PinMock::new(&led), ActiveLevel::High)),
            Some(Tally::new(PinMock::new(&tally), ActiveLevel::High)),
            None,
        );
        for now in (0..=150).step_by(10) {
            assert_eq!(panel.tick(&state(false), now), None);
        }
        for now in (160..=400).step_by(10) {
            panel.tick(&state(true), now);
        }
        for now in (410..=500).step_by(10) {
            panel.tick(&state(false), now);
        }
        let Panel { led, tally, .. } = panel;
        // Dark, lit when the product went on air, dark when it left; each written once.
        tally.unwrap().release().done();
        led.unwrap().release().done();
    }

    #[test]
    fn a_failing_part_is_left_out_and_the_others_go_on() {
        let broken = [PinTransaction::set(State::High).with_error(MockError::Io(std::io::ErrorKind::NotConnected))];
        let reads = press(10, 40);
        let mut panel: MockPanel = Panel::new(
            Some(Button::new(PinMock::new(&reads), ActiveLevel::Low, ButtonTiming::default())),
            None,
            Some(Tally::new(PinMock::new(&broken), ActiveLevel::High)),
            None,
        );
        let commands = ticks(&mut panel, reads.len(), &state(true));
        assert!(panel.failed.tally, "the failed tally is left out");
        assert_eq!(commands, [Command::Cue(CueAction::Next)], "the button still works");
        // Tried once only: the mock expected exactly one write.
        panel.tally.take().unwrap().release().done();
        panel.button.take().unwrap().release().done();
    }

    /// The daemon's path for a press: panel → engine → the next cue published on `prompt`.
    #[test]
    fn a_mock_button_press_publishes_the_next_cue() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = parse_catalog(
            "version: 1\ndefault_locale: en\nproducts:\n  - sku: A\n    name: Tea\n    script:\n      - {id: intro, text: Hello}\n      - {id: taste, text: Taste it}\n",
        )
        .unwrap()
        .catalog;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store.import(&catalog, &[], "d", "c.yaml").unwrap();
        let metrics = Arc::new(Metrics::new());
        let (outbox, mut published) = Outbox::channel(64, metrics.clone());
        let mut engine = Engine::new(store, catalog.products, catalog.default_locale, None, outbox, metrics);
        engine.start();
        engine.handle(EngineInput::Vision(VisionChange {
            sku: Some("A".into()),
            confidence: 0.9,
            since_ms: 1,
            captured: Instant::now(),
        }));
        let prompts = |published: &mut mpsc::Receiver<crate::mqtt::Outgoing>| -> Vec<serde_json::Value> {
            std::iter::from_fn(|| published.try_recv().ok())
                .filter(|m| m.topic == Topic::Prompt)
                .map(|m| serde_json::from_slice(&m.payload).unwrap())
                .collect()
        };
        assert_eq!(prompts(&mut published).last().unwrap()["card"], "intro");

        let reads = press(10, 40);
        let mut panel = button_only(&reads);
        for command in ticks(&mut panel, reads.len(), &state(true)) {
            engine.handle(EngineInput::Command(command));
        }
        panel.button.take().unwrap().release().done();
        let after = prompts(&mut published);
        assert_eq!(after.len(), 1, "one press, one cue: {after:?}");
        assert_eq!((after[0]["card"].as_str(), after[0]["text"].as_str()), (Some("taste"), Some("Taste it")));
    }
}
