//! Configuration: one TOML file with every key optional, overridden by `CUEBOX_<SECTION>_<KEY>`
//! environment variables, deserialised into typed sections and validated purely into
//! [`Settings`]. Every problem is reported at once with its key path (and line where known).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cuebox_capture::Source;
use cuebox_vision::{DecisionRule, TrackerConfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/cuebox/cuebox.toml";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceSection {
    pub id: Option<String>,
    /// The host's locale for cue texts; default: the catalog's default_locale.
    pub locale: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceList {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSection {
    /// One source, or several played in turn; default: the bundled demo clips.
    pub source: Option<SourceList>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub stall_timeout_ms: u64,
    /// How v4l2:// sources are read: "gstreamer" or "v4l" (the device directly).
    pub backend: String,
    /// How long the camera may be lost before the product on air goes back to none.
    pub lost_grace_ms: u64,
    /// The longest wait between attempts to bring a failed source back.
    pub retry_max_ms: u64,
}

impl Default for CaptureSection {
    fn default() -> Self {
        Self {
            source: None,
            width: 640,
            height: 480,
            fps: 30,
            stall_timeout_ms: 5000,
            backend: "gstreamer".into(),
            lost_grace_ms: 1000,
            retry_max_ms: 3000,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionSection {
    pub model: Option<PathBuf>,
    /// Most recognitions per second.
    pub rate: f64,
    pub min_score: f32,
    pub min_margin: f32,
    pub min_studio_margin: f32,
    pub min_lone_score: f32,
    pub enter_ms: u64,
    pub exit_ms: u64,
    /// Barcode/QR reads per second (0: off).
    pub barcode_rate: f64,
    /// Reads of printed text per second (0: off).
    pub text_rate: f64,
    /// Below this change of the scene (mean luma levels of a 32x24 grid) a frame is not
    /// recognized again (0: recognize every frame).
    pub still_threshold: f32,
}

impl Default for VisionSection {
    fn default() -> Self {
        Self {
            model: None,
            rate: 10.0,
            min_score: cuebox_vision::RECOMMENDED_RULE.min_score,
            min_margin: cuebox_vision::RECOMMENDED_RULE.min_margin,
            min_studio_margin: cuebox_vision::RECOMMENDED_RULE.min_studio_margin,
            min_lone_score: cuebox_vision::RECOMMENDED_RULE.min_lone_score,
            enter_ms: 300,
            exit_ms: 1500,
            barcode_rate: 2.0,
            text_rate: 1.0,
            still_threshold: 2.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub path: PathBuf,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self { path: PathBuf::from("./cuebox-data") }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    pub url: String,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub topic_prefix: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub client_id: Option<String>,
    /// Client certificate and key (PEM) for mqtts:// brokers that require one.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub embedded_listen: String,
    pub embedded_ws_listen: String,
    /// `user:password` lines; when set, the embedded broker requires a login.
    pub embedded_users_file: Option<PathBuf>,
    /// Accept an embedded broker beyond loopback without logins, where anyone on the network can
    /// send commands and viewer messages.
    pub allow_anonymous_lan: bool,
    /// How long an undelivered prompt is kept for a broker that is away.
    pub outbox_ttl_s: u64,
    pub outbox_capacity: usize,
    /// Most bytes of undelivered prompts kept in the store.
    pub outbox_max_bytes: u64,
    pub home_assistant: bool,
    pub home_assistant_prefix: String,
}

impl Default for MqttSection {
    fn default() -> Self {
        Self {
            url: "embedded".into(),
            username: None,
            password_file: None,
            topic_prefix: None,
            tls_ca: None,
            client_id: None,
            client_cert: None,
            client_key: None,
            embedded_listen: "127.0.0.1:1883".into(),
            embedded_ws_listen: "127.0.0.1:8083".into(),
            embedded_users_file: None,
            allow_anonymous_lan: false,
            outbox_ttl_s: 300,
            outbox_capacity: 10_000,
            outbox_max_bytes: 16 * 1024 * 1024,
            home_assistant: false,
            home_assistant_prefix: "homeassistant".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    pub listen: String,
    pub admin_token_file: Option<PathBuf>,
    /// MQTT-over-WebSocket URL the pages connect to; default: the embedded broker's.
    pub mqtt_ws_url: Option<String>,
    /// The login the pages use with the broker (visible to whoever can load the pages).
    pub mqtt_username: Option<String>,
    pub mqtt_password_file: Option<PathBuf>,
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_token_file: None,
            mqtt_ws_url: None,
            mqtt_username: None,
            mqtt_password_file: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaqSection {
    /// Semantic retrieval with the multilingual text model (about 290 MB of memory).
    pub semantic: bool,
    /// Overrides the calibrated "no answer" threshold.
    pub min_score: Option<f32>,
    pub window_s: u64,
    pub rate: f64,
    pub demand_window_s: u64,
    pub demand_min: usize,
}

impl Default for FaqSection {
    fn default() -> Self {
        Self { semantic: true, min_score: None, window_s: 60, rate: 20.0, demand_window_s: 300, demand_min: 5 }
    }
}

/// Where viewer messages come from besides MQTT `chat/in`: WebSocket connectors to the chat tools
/// a studio runs, and the `POST /api/chat` webhook.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatSection {
    /// One table per connector; each is checked on its own (`ChatSourceSection`).
    pub sources: Vec<toml::Value>,
    /// The webhook's token; without it `POST /api/chat` refuses everyone.
    pub webhook_token_file: Option<PathBuf>,
    /// How long a connector may take to connect, and to answer a ping, before it tries again.
    pub connect_timeout_ms: u64,
    /// How long a connection may stay silent before it is pinged.
    pub ping_interval_ms: u64,
    /// The longest wait between connection attempts (the wait doubles from 200 ms).
    pub retry_max_ms: u64,
}

impl Default for ChatSection {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            webhook_token_file: None,
            connect_timeout_ms: 10_000,
            ping_interval_ms: 15_000,
            retry_max_ms: 30_000,
        }
    }
}

/// One `[[chat.sources]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatSourceSection {
    kind: String,
    name: Option<String>,
    url: Option<String>,
    platform: Option<String>,
    session_file: Option<PathBuf>,
}

/// The box's own button, lights and status screen (all optional).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HardwareSection {
    /// Off: the parts below are left alone (kept in the file for later).
    pub enabled: bool,
    /// The GPIO character device of the lines below, e.g. "/dev/gpiochip0".
    pub gpio_chip: Option<PathBuf>,
    /// The "next cue" button: short press next cue, long press pin/unpin the product.
    pub button_line: Option<u32>,
    /// Whether the button pulls its line low when pressed (a button to ground with a pull-up).
    pub button_active_low: bool,
    pub status_led_line: Option<u32>,
    /// The on-air light: lit while a product card is shown.
    pub tally_line: Option<u32>,
    /// Whether the LED and tally light up when their line is low.
    pub lights_active_low: bool,
    /// The I2C bus of an SSD1306 status screen, e.g. "/dev/i2c-1".
    pub i2c_bus: Option<PathBuf>,
    pub screen_address: u8,
}

impl Default for HardwareSection {
    fn default() -> Self {
        Self {
            enabled: true,
            gpio_chip: None,
            button_line: None,
            button_active_low: true,
            status_led_line: None,
            tally_line: None,
            lights_active_low: false,
            i2c_bus: None,
            screen_address: 0x3C,
        }
    }
}

/// The raw sections, as written.
#[derive(Clone, Debug, Default)]
pub struct RawConfig {
    pub device: DeviceSection,
    pub capture: CaptureSection,
    pub vision: VisionSection,
    pub store: StoreSection,
    pub mqtt: MqttSection,
    pub web: WebSection,
    pub faq: FaqSection,
    pub chat: ChatSection,
    pub hardware: HardwareSection,
}

const SECTIONS: [&str; 9] = ["device", "capture", "vision", "store", "mqtt", "web", "faq", "chat", "hardware"];

/// Where the MQTT messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerSettings {
    /// The broker inside the daemon.
    Embedded {
        listen: SocketAddr,
        ws_listen: SocketAddr,
        users_file: Option<PathBuf>,
    },
    External {
        host: String,
        port: u16,
        tls: bool,
    },
}

#[derive(Clone, Debug)]
pub struct MqttSettings {
    pub broker: BrokerSettings,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub topic_prefix: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub client_id: Option<String>,
    pub outbox_ttl: Duration,
    pub outbox_capacity: usize,
    pub outbox_max_bytes: u64,
    /// The Home Assistant discovery prefix, when discovery is on.
    pub home_assistant: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CaptureSettings {
    /// `None`: the bundled demo clips.
    pub sources: Option<Vec<Source>>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub stall_timeout: Duration,
    pub backend: cuebox_capture::Backend,
    pub lost_grace: Duration,
    pub retry_max: Duration,
}

#[derive(Clone, Debug)]
pub struct VisionSettings {
    pub model: Option<PathBuf>,
    pub interval: Duration,
    pub rule: DecisionRule,
    pub tracker: TrackerConfig,
    /// `None`: barcodes are not read.
    pub barcode_interval: Option<Duration>,
    pub text_interval: Option<Duration>,
    pub still_threshold: f32,
}

#[derive(Clone, Debug)]
pub struct WebSettings {
    pub listen: SocketAddr,
    pub admin_token_file: Option<PathBuf>,
    pub mqtt_ws_url: Option<String>,
    pub mqtt_login: Option<(String, Option<PathBuf>)>,
}

#[derive(Clone, Debug)]
pub struct FaqSettings {
    pub semantic: bool,
    pub min_score: Option<f32>,
    pub window: Duration,
    pub rate: f64,
    pub demand_window: Duration,
    pub demand_min: usize,
}

/// Which tool a chat connector talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorKind {
    /// oba-live-tool's comment WebSocket; `platform` names the platform of its plain `comment`
    /// events (the others name theirs).
    ObaLiveTool { platform: String },
    /// Social Stream Ninja's API server, joined to the session in the file, on its chat channel.
    SocialStream { session_file: PathBuf, platform: Option<String> },
}

/// One WebSocket chat connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorSettings {
    /// Unique among the sources; names the source in `/metrics`, `chat/status` and the logs.
    pub name: String,
    pub url: String,
    pub kind: ConnectorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSettings {
    pub connectors: Vec<ConnectorSettings>,
    pub webhook_token_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub ping_interval: Duration,
    pub retry_max: Duration,
}

/// Where oba-live-tool broadcasts comments unless told otherwise.
pub const OBA_DEFAULT_URL: &str = "ws://127.0.0.1:12354";
/// Social Stream Ninja's hosted API server.
pub const SOCIAL_STREAM_DEFAULT_URL: &str = "wss://io.socialstream.ninja";

/// One GPIO line and whether it is active when low.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub offset: u32,
    pub active_low: bool,
}

/// The panel hardware in use; every part optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HardwareSettings {
    pub gpio_chip: Option<PathBuf>,
    pub button: Option<Line>,
    pub status_led: Option<Line>,
    pub tally: Option<Line>,
    /// The I2C bus and the screen's address on it.
    pub screen: Option<(PathBuf, u8)>,
}

impl HardwareSettings {
    pub fn is_empty(&self) -> bool {
        self.button.is_none() && self.status_led.is_none() && self.tally.is_none() && self.screen.is_none()
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub device_id: Option<String>,
    pub locale: Option<String>,
    pub capture: CaptureSettings,
    pub vision: VisionSettings,
    pub store_path: PathBuf,
    pub mqtt: MqttSettings,
    pub web: WebSettings,
    pub faq: FaqSettings,
    pub chat: ChatSettings,
    pub hardware: HardwareSettings,
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file, or the environment variable, the value came from.
    pub origin: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.origin)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Which file (if any) the configuration came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
}

/// Reads the configuration in force: `--config FILE`, else the system file if present,
/// else the embedded defaults; environment overrides apply in every case.
pub fn load(explicit: Option<&Path>, env: &[(String, String)]) -> Result<Loaded, Vec<ConfigProblem>> {
    let file = match explicit {
        Some(p) => Some(p.to_owned()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
    };
    let text = match &file {
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            vec![ConfigProblem {
                origin: p.display().to_string(),
                line: None,
                key: String::new(),
                message: e.to_string(),
            }]
        })?,
        None => String::new(),
    };
    let origin = file.as_ref().map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
    let settings = parse(&text, &origin, env)?;
    Ok(Loaded { settings, file })
}

/// The `CUEBOX_*` variables of this process's environment.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("CUEBOX_")).collect()
}

/// Parses and validates configuration text plus environment overrides.
pub fn parse(text: &str, origin: &str, env: &[(String, String)]) -> Result<Settings, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let line = e.span().map(|s| line_at(text, s.start));
            return Err(vec![ConfigProblem {
                origin: origin.into(),
                line,
                key: String::new(),
                message: e.message().to_owned(),
            }]);
        }
    };
    let mut env_origin: Vec<(String, String)> = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("CUEBOX_") else { continue };
        let lower = rest.to_ascii_lowercase();
        let Some((section, key)) = lower.split_once('_').filter(|(s, k)| SECTIONS.contains(s) && !k.is_empty()) else {
            problems.push(ConfigProblem {
                origin: name.clone(),
                line: None,
                key: String::new(),
                message: format!(
                    "not a configuration key (expected CUEBOX_<SECTION>_<KEY> with SECTION one of {})",
                    SECTIONS.join(", ").to_uppercase()
                ),
            });
            continue;
        };
        let parsed = format!("v = {value}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
        let value = parsed.unwrap_or_else(|| toml::Value::String(value.clone()));
        let section_table = table.entry(section).or_insert_with(|| toml::Value::Table(Default::default()));
        if let toml::Value::Table(t) = section_table {
            t.insert(key.to_owned(), value);
            env_origin.push((format!("{section}.{key}"), name.clone()));
        }
    }
    let locate = |key: &str| -> (String, Option<usize>) {
        if let Some((_, var)) = env_origin.iter().find(|(k, _)| k == key) {
            return (var.clone(), None);
        }
        let (section, field) = key.split_once('.').unwrap_or((key, ""));
        (origin.to_owned(), line_of(text, section, field))
    };
    let mut raw = RawConfig::default();
    for (name, value) in table {
        match name.as_str() {
            "device" => raw.device = section(&name, value, &locate, &mut problems),
            "capture" => raw.capture = section(&name, value, &locate, &mut problems),
            "vision" => raw.vision = section(&name, value, &locate, &mut problems),
            "store" => raw.store = section(&name, value, &locate, &mut problems),
            "mqtt" => raw.mqtt = section(&name, value, &locate, &mut problems),
            "web" => raw.web = section(&name, value, &locate, &mut problems),
            "faq" => raw.faq = section(&name, value, &locate, &mut problems),
            "chat" => raw.chat = section(&name, value, &locate, &mut problems),
            "hardware" => raw.hardware = section(&name, value, &locate, &mut problems),
            other => {
                let (origin, line) = locate(other);
                problems.push(ConfigProblem {
                    origin,
                    line,
                    key: other.to_owned(),
                    message: format!("unknown section (expected one of: {})", SECTIONS.join(", ")),
                });
            }
        }
    }
    let settings = validate(&raw).map_err(|found| {
        found.into_iter().map(|(key, message)| {
            let (origin, line) = locate(&key);
            ConfigProblem { origin, line, key, message }
        })
    });
    match settings {
        Ok(s) if problems.is_empty() => Ok(s),
        Ok(_) => Err(sorted(problems)),
        Err(more) => {
            problems.extend(more);
            Err(sorted(problems))
        }
    }
}

/// File problems in line order, then the environment's.
fn sorted(mut problems: Vec<ConfigProblem>) -> Vec<ConfigProblem> {
    problems.sort_by_key(|p| (p.line.is_none(), p.line));
    problems
}

/// Deserialises one section, reporting every unknown or mistyped key (each is then left at
/// its default so that the rest of the section is still checked).
fn section<T: DeserializeOwned + Default>(
    name: &str,
    value: toml::Value,
    locate: &dyn Fn(&str) -> (String, Option<usize>),
    problems: &mut Vec<ConfigProblem>,
) -> T {
    let mut push = |key: String, message: String| {
        let (origin, line) = locate(&key);
        problems.push(ConfigProblem { origin, line, key, message });
    };
    let toml::Value::Table(mut table) = value else {
        push(name.to_owned(), format!("expected a [{name}] table"));
        return T::default();
    };
    let known = field_names::<T>();
    let unknown: Vec<String> = table.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
    for key in unknown {
        table.remove(&key);
        push(format!("{name}.{key}"), format!("unknown key (expected one of: {})", known.join(", ")));
    }
    for _ in 0..=known.len() {
        let result: Result<T, _> = serde_path_to_error::deserialize(toml::Value::Table(table.clone()));
        match result {
            Ok(v) => return v,
            Err(e) => {
                let field = e.path().iter().next().map(|s| s.to_string()).unwrap_or_default();
                let message = e.into_inner().message().to_owned();
                if table.remove(&field).is_none() {
                    push(name.to_owned(), message);
                    return T::default();
                }
                push(format!("{name}.{field}"), message);
            }
        }
    }
    T::default()
}

/// The field names a struct's `Deserialize` accepts.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Pure validation of the raw sections: `(key, message)` for every problem.
pub fn validate(raw: &RawConfig) -> Result<Settings, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut bad = |key: &str, message: String| problems.push((key.to_owned(), message));

    if let Some(id) = &raw.device.id
        && !cuebox_catalog::is_identifier(id)
    {
        bad("device.id", format!("{id:?} must match [A-Za-z0-9._-]{{1,64}} (it is part of every MQTT topic)"));
    }
    if let Some(locale) = &raw.device.locale
        && !cuebox_catalog::is_locale(locale)
    {
        bad("device.locale", format!("{locale:?} is not a locale like zh-CN or en"));
    }

    let c = &raw.capture;
    let sources = match &c.source {
        None => None,
        Some(list) => {
            let texts: Vec<&String> = match list {
                SourceList::One(s) => vec![s],
                SourceList::Many(v) => v.iter().collect(),
            };
            if texts.is_empty() {
                bad("capture.source", "the list of sources is empty".into());
            }
            let mut parsed = Vec::new();
            for text in texts {
                match text.parse::<Source>() {
                    Ok(s) => parsed.push(s),
                    Err(e) => bad("capture.source", e.message),
                }
            }
            Some(parsed)
        }
    };
    check_range(&mut bad, "capture.width", c.width, 16, 7680);
    check_range(&mut bad, "capture.height", c.height, 16, 4320);
    check_range(&mut bad, "capture.fps", c.fps, 1, 240);
    check_range(&mut bad, "capture.stall_timeout_ms", c.stall_timeout_ms, 200, 600_000);
    let backend = match c.backend.parse::<cuebox_capture::Backend>() {
        Ok(b) => b,
        Err(_) => {
            bad("capture.backend", format!("{:?} must be \"gstreamer\" or \"v4l\"", c.backend));
            cuebox_capture::Backend::default()
        }
    };
    check_range(&mut bad, "capture.lost_grace_ms", c.lost_grace_ms, 0, 600_000);
    check_range(&mut bad, "capture.retry_max_ms", c.retry_max_ms, 100, 600_000);

    let v = &raw.vision;
    if !(v.rate > 0.0 && v.rate <= 120.0) {
        bad("vision.rate", format!("must be above 0 and at most 120 recognitions per second (got {})", v.rate));
    }
    for (key, value) in [
        ("vision.min_score", v.min_score),
        ("vision.min_margin", v.min_margin),
        ("vision.min_studio_margin", v.min_studio_margin),
        ("vision.min_lone_score", v.min_lone_score),
    ] {
        if !(0.0..=1.0).contains(&value) {
            bad(key, format!("must be between 0 and 1 (got {value})"));
        }
    }
    check_range(&mut bad, "vision.enter_ms", v.enter_ms, 0, 60_000);
    if !(0.0..=10.0).contains(&v.text_rate) {
        bad("vision.text_rate", format!("must be between 0 (off) and 10 reads per second (got {})", v.text_rate));
    }
    if !(0.0..=30.0).contains(&v.barcode_rate) {
        bad("vision.barcode_rate", format!("must be between 0 (off) and 30 reads per second (got {})", v.barcode_rate));
    }
    if !(0.0..=64.0).contains(&v.still_threshold) {
        bad(
            "vision.still_threshold",
            format!("must be between 0 (off) and 64 luma levels (got {})", v.still_threshold),
        );
    }
    check_range(&mut bad, "vision.exit_ms", v.exit_ms, 0, 600_000);

    if raw.store.path.as_os_str().is_empty() {
        bad("store.path", "must not be empty".into());
    }

    let m = &raw.mqtt;
    let broker = match m.url.as_str() {
        "embedded" => {
            let listen = socket(&mut bad, "mqtt.embedded_listen", &m.embedded_listen);
            let ws_listen = socket(&mut bad, "mqtt.embedded_ws_listen", &m.embedded_ws_listen);
            listen.zip(ws_listen).map(|(listen, ws_listen)| BrokerSettings::Embedded {
                listen,
                ws_listen,
                users_file: m.embedded_users_file.clone(),
            })
        }
        url => match parse_broker_url(url) {
            Ok(b) => Some(b),
            Err(message) => {
                bad("mqtt.url", message);
                None
            }
        },
    };
    if m.password_file.is_some() && m.username.is_none() {
        bad("mqtt.password_file", "a password needs mqtt.username".into());
    }
    let tls = matches!(broker, Some(BrokerSettings::External { tls: true, .. }));
    for (key, set) in [
        ("mqtt.tls_ca", m.tls_ca.is_some()),
        ("mqtt.client_cert", m.client_cert.is_some()),
        ("mqtt.client_key", m.client_key.is_some()),
    ] {
        if set && !tls {
            bad(key, "only applies to an mqtts:// broker".into());
        }
    }
    if m.client_cert.is_some() != m.client_key.is_some() {
        bad("mqtt.client_cert", "mqtt.client_cert and mqtt.client_key go together".into());
    }
    if let Some(BrokerSettings::Embedded { listen, ws_listen, users_file: None }) = &broker
        && !m.allow_anonymous_lan
    {
        for (key, address) in [("mqtt.embedded_listen", listen), ("mqtt.embedded_ws_listen", ws_listen)] {
            if !address.ip().is_loopback() {
                bad(
                    key,
                    format!(
                        "{address} opens the embedded broker beyond this machine without logins, so anyone on the \
                         network could send commands and viewer messages: set mqtt.embedded_users_file (with \
                         mqtt.username and mqtt.password_file), listen on 127.0.0.1, or set \
                         mqtt.allow_anonymous_lan = true to accept it"
                    ),
                );
            }
        }
    }
    if m.allow_anonymous_lan && m.url != "embedded" {
        bad("mqtt.allow_anonymous_lan", "only applies when mqtt.url is \"embedded\"".into());
    }
    if m.embedded_users_file.is_some() {
        if m.url != "embedded" {
            bad("mqtt.embedded_users_file", "only applies when mqtt.url is \"embedded\"".into());
        } else if m.username.is_none() {
            bad(
                "mqtt.embedded_users_file",
                "the daemon needs its own login too: set mqtt.username and mqtt.password_file".into(),
            );
        }
    }
    check_range(&mut bad, "mqtt.outbox_ttl_s", m.outbox_ttl_s, 1, 86_400);
    check_range(&mut bad, "mqtt.outbox_capacity", m.outbox_capacity, 10, 1_000_000);
    check_range(&mut bad, "mqtt.outbox_max_bytes", m.outbox_max_bytes, 64 * 1024, 1024 * 1024 * 1024);
    if m.home_assistant_prefix.is_empty() || m.home_assistant_prefix.contains(['+', '#']) {
        bad("mqtt.home_assistant_prefix", "must be a topic without wildcards".into());
    }
    if let Some(prefix) = &m.topic_prefix
        && (prefix.trim_matches('/').is_empty() || prefix.contains(['+', '#']) || prefix.starts_with('/'))
    {
        bad("mqtt.topic_prefix", format!("{prefix:?} must be a topic path without wildcards or a leading /"));
    }
    if let Some(id) = &m.client_id
        && !(1..=64).contains(&id.len())
    {
        bad("mqtt.client_id", "must be 1 to 64 characters".into());
    }

    let w = &raw.web;
    let listen = socket(&mut bad, "web.listen", &w.listen);
    if w.mqtt_password_file.is_some() && w.mqtt_username.is_none() {
        bad("web.mqtt_password_file", "a password needs web.mqtt_username".into());
    }
    if let Some(url) = &w.mqtt_ws_url
        && !(url.starts_with("ws://") || url.starts_with("wss://"))
    {
        bad("web.mqtt_ws_url", format!("{url:?} must start with ws:// or wss://"));
    }

    let f = &raw.faq;
    if let Some(score) = f.min_score
        && !(0.0..=1.0).contains(&score)
    {
        bad("faq.min_score", format!("must be between 0 and 1 (got {score})"));
    }
    check_range(&mut bad, "faq.window_s", f.window_s, 1, 3600);
    if !(f.rate > 0.0 && f.rate <= 1000.0) {
        bad("faq.rate", format!("must be above 0 and at most 1000 questions per second (got {})", f.rate));
    }
    check_range(&mut bad, "faq.demand_window_s", f.demand_window_s, 10, 86_400);
    check_range(&mut bad, "faq.demand_min", f.demand_min, 1, 10_000);

    let chat = chat_settings(&raw.chat, &mut bad);

    let h = &raw.hardware;
    let lines = [
        ("hardware.button_line", h.button_line),
        ("hardware.status_led_line", h.status_led_line),
        ("hardware.tally_line", h.tally_line),
    ];
    for (index, (key, line)) in lines.iter().enumerate() {
        let Some(line) = line else { continue };
        if h.gpio_chip.is_none() {
            bad(key, "a GPIO line needs hardware.gpio_chip".into());
        }
        if let Some((other, _)) = lines.iter().take(index).find(|(_, o)| *o == Some(*line)) {
            bad(key, format!("line {line} is already {other}"));
        }
    }
    if !(0x03..=0x77).contains(&h.screen_address) {
        bad(
            "hardware.screen_address",
            format!("must be a 7-bit I2C address between 0x03 and 0x77 (got {:#x})", h.screen_address),
        );
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(broker), Some(listen)) = (broker, listen) else {
        return Err(vec![("mqtt.url".into(), "invalid".into())]);
    };
    Ok(Settings {
        device_id: raw.device.id.clone(),
        locale: raw.device.locale.clone(),
        capture: CaptureSettings {
            sources,
            width: c.width,
            height: c.height,
            fps: c.fps,
            stall_timeout: Duration::from_millis(c.stall_timeout_ms),
            backend,
            lost_grace: Duration::from_millis(c.lost_grace_ms),
            retry_max: Duration::from_millis(c.retry_max_ms),
        },
        vision: VisionSettings {
            model: v.model.clone(),
            interval: Duration::from_secs_f64(1.0 / v.rate),
            rule: DecisionRule {
                min_score: v.min_score,
                min_margin: v.min_margin,
                min_studio_margin: v.min_studio_margin,
                min_lone_score: v.min_lone_score,
                ..cuebox_vision::RECOMMENDED_RULE
            },
            tracker: TrackerConfig { enter: Duration::from_millis(v.enter_ms), exit: Duration::from_millis(v.exit_ms) },
            barcode_interval: (v.barcode_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / v.barcode_rate)),
            text_interval: (v.text_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / v.text_rate)),
            still_threshold: v.still_threshold,
        },
        store_path: raw.store.path.clone(),
        mqtt: MqttSettings {
            broker,
            username: m.username.clone(),
            password_file: m.password_file.clone(),
            topic_prefix: m.topic_prefix.as_ref().map(|p| p.trim_end_matches('/').to_owned()),
            tls_ca: m.tls_ca.clone(),
            client_cert: m.client_cert.clone().zip(m.client_key.clone()),
            client_id: m.client_id.clone(),
            outbox_ttl: Duration::from_secs(m.outbox_ttl_s),
            outbox_capacity: m.outbox_capacity,
            outbox_max_bytes: m.outbox_max_bytes,
            home_assistant: m.home_assistant.then(|| m.home_assistant_prefix.clone()),
        },
        web: WebSettings {
            listen,
            admin_token_file: w.admin_token_file.clone(),
            mqtt_ws_url: w.mqtt_ws_url.clone(),
            mqtt_login: w.mqtt_username.clone().map(|u| (u, w.mqtt_password_file.clone())),
        },
        faq: FaqSettings {
            semantic: f.semantic,
            min_score: f.min_score,
            window: Duration::from_secs(f.window_s),
            rate: f.rate,
            demand_window: Duration::from_secs(f.demand_window_s),
            demand_min: f.demand_min,
        },
        chat,
        hardware: if !h.enabled {
            HardwareSettings::default()
        } else {
            HardwareSettings {
                gpio_chip: h.gpio_chip.clone(),
                button: h.button_line.map(|offset| Line { offset, active_low: h.button_active_low }),
                status_led: h.status_led_line.map(|offset| Line { offset, active_low: h.lights_active_low }),
                tally: h.tally_line.map(|offset| Line { offset, active_low: h.lights_active_low }),
                screen: h.i2c_bus.clone().map(|bus| (bus, h.screen_address)),
            }
        },
    })
}

/// The `[chat]` section, each source checked on its own.
fn chat_settings(raw: &ChatSection, bad: &mut impl FnMut(&str, String)) -> ChatSettings {
    check_range(bad, "chat.connect_timeout_ms", raw.connect_timeout_ms, 100, 120_000);
    check_range(bad, "chat.ping_interval_ms", raw.ping_interval_ms, 100, 600_000);
    check_range(bad, "chat.retry_max_ms", raw.retry_max_ms, 200, 600_000);
    let mut connectors: Vec<ConnectorSettings> = Vec::new();
    for (index, value) in raw.sources.iter().enumerate() {
        let key = |field: &str| format!("chat.sources[{index}].{field}");
        let source: ChatSourceSection = match serde_path_to_error::deserialize(value.clone()) {
            Ok(source) => source,
            Err(error) => {
                let field = error.path().to_string();
                let message = error.into_inner().message().to_owned();
                bad(&if field == "." { format!("chat.sources[{index}]") } else { key(&field) }, message);
                continue;
            }
        };
        let default_url = match source.kind.as_str() {
            "oba-live-tool" => OBA_DEFAULT_URL,
            "social-stream" => SOCIAL_STREAM_DEFAULT_URL,
            other => {
                bad(
                    &key("kind"),
                    format!("{other:?} is not a connector (expected \"oba-live-tool\" or \"social-stream\")"),
                );
                continue;
            }
        };
        let url = source.url.clone().unwrap_or_else(|| default_url.to_owned());
        if !(url.starts_with("ws://") || url.starts_with("wss://")) || url.contains(char::is_whitespace) {
            bad(&key("url"), format!("{url:?} must be a ws:// or wss:// URL"));
        }
        if let Some(platform) = &source.platform
            && !cuebox_catalog::is_identifier(platform)
        {
            bad(&key("platform"), format!("{platform:?} must match [A-Za-z0-9._-]{{1,64}}"));
        }
        let kind = match (source.kind.as_str(), source.session_file.clone()) {
            ("oba-live-tool", None) => {
                ConnectorKind::ObaLiveTool { platform: source.platform.clone().unwrap_or_else(|| "douyin".into()) }
            }
            ("oba-live-tool", Some(_)) => {
                bad(&key("session_file"), "only applies to a social-stream source".into());
                continue;
            }
            (_, Some(session_file)) => ConnectorKind::SocialStream { session_file, platform: source.platform.clone() },
            (_, None) => {
                bad(&key("session_file"), "a social-stream source needs the file with its session id".into());
                continue;
            }
        };
        let name = source.name.clone().unwrap_or_else(|| source.kind.clone());
        if !cuebox_catalog::is_identifier(&name) || matches!(name.as_str(), "mqtt" | "webhook") {
            bad(&key("name"), format!("{name:?} must match [A-Za-z0-9._-]{{1,64}} and not be \"mqtt\" or \"webhook\""));
        } else if connectors.iter().any(|c| c.name == name) {
            bad(&key("name"), format!("{name:?} names another source too: give each its own name"));
        }
        connectors.push(ConnectorSettings { name, url, kind });
    }
    ChatSettings {
        connectors,
        webhook_token_file: raw.webhook_token_file.clone(),
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        ping_interval: Duration::from_millis(raw.ping_interval_ms),
        retry_max: Duration::from_millis(raw.retry_max_ms),
    }
}

fn check_range<T: PartialOrd + fmt::Display>(bad: &mut impl FnMut(&str, String), key: &str, value: T, low: T, high: T) {
    if value < low || value > high {
        bad(key, format!("must be between {low} and {high} (got {value})"));
    }
}

fn socket(bad: &mut impl FnMut(&str, String), key: &str, text: &str) -> Option<SocketAddr> {
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            bad(key, format!("{text:?} is not an address like 127.0.0.1:8080"));
            None
        }
    }
}

fn parse_broker_url(url: &str) -> Result<BrokerSettings, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(format!("{url:?} must be \"embedded\", mqtt://host[:port] or mqtts://host[:port]"));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port = p.parse::<u16>().map_err(|_| format!("{p:?} is not a port number"))?;
            (h, port)
        }
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(format!("{url:?} has no usable host"));
    }
    if port == 0 {
        return Err("port 0 is not a broker port".into());
    }
    Ok(BrokerSettings::External { host: host.to_owned(), port, tls })
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `key` in `[section]` (or of the section header when `key` is empty).
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = "";
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = header.trim();
            if current == section && key.is_empty() {
                return Some(index + 1);
            }
        } else if current == section
            && !key.is_empty()
            && let Some(rest) = line.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(text, "cuebox.toml", &env).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_embedded_broker_beyond_loopback_needs_logins_or_an_explicit_yes() {
        let got =
            problems("[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nembedded_ws_listen = \"192.168.1.5:8083\"\n", &[]);
        assert!(
            got.iter().any(|g| g.starts_with("cuebox.toml:2: mqtt.embedded_listen: 0.0.0.0:1883 opens the embedded broker beyond this machine without logins")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|g| g.contains("cuebox.toml:3: mqtt.embedded_ws_listen: 192.168.1.5:8083 opens")),
            "{got:#?}"
        );
        assert!(got.iter().any(|g| g.contains("mqtt.allow_anonymous_lan = true")), "{got:#?}");
        let accepted = "[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nallow_anonymous_lan = true\n";
        assert!(parse(accepted, "f", &[]).is_ok());
        let with_logins = "[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nembedded_users_file = \"/u\"\nusername = \"c\"\npassword_file = \"/p\"\n";
        assert!(parse(with_logins, "f", &[]).is_ok());
        assert!(parse("[mqtt]\nembedded_listen = \"[::1]:1883\"\n", "f", &[]).is_ok());
        let got = problems("[mqtt]\nurl = \"mqtt://10.0.0.2\"\nallow_anonymous_lan = true\n", &[]);
        assert!(got.iter().any(|g| g.contains("mqtt.allow_anonymous_lan: only applies")), "{got:#?}");
    }

    #[test]
    fn hardware_lines_need_a_chip_and_differ() {
        let got = problems("[hardware]\nbutton_line = 17\ntally_line = 17\nscreen_address = 0x80\n", &[]);
        assert!(
            got.iter().any(|g| g.contains("hardware.button_line: a GPIO line needs hardware.gpio_chip")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|g| g.contains("hardware.tally_line: line 17 is already hardware.button_line")),
            "{got:#?}"
        );
        assert!(got.iter().any(|g| g.contains("hardware.screen_address: must be a 7-bit I2C address")), "{got:#?}");
        let s =
            parse("[hardware]\ngpio_chip = \"/dev/gpiochip0\"\nbutton_line = 17\ni2c_bus = \"/dev/i2c-1\"\n", "f", &[])
                .unwrap();
        assert_eq!(s.hardware.button, Some(Line { offset: 17, active_low: true }));
        assert_eq!(s.hardware.screen, Some(("/dev/i2c-1".into(), 0x3C)));
        assert!(parse("", "f", &[]).unwrap().hardware.is_empty());
        let off =
            parse("[hardware]\nenabled = false\ngpio_chip = \"/dev/gpiochip0\"\nbutton_line = 17\n", "f", &[]).unwrap();
        assert!(off.hardware.is_empty());
    }

    #[test]
    fn empty_config_is_the_embedded_default() {
        let s = parse("", "defaults", &[]).unwrap();
        assert!(
            matches!(s.mqtt.broker, BrokerSettings::Embedded { listen, .. } if listen.to_string() == "127.0.0.1:1883")
        );
        assert_eq!(s.mqtt.outbox_ttl, Duration::from_secs(300));
        assert_eq!(s.mqtt.outbox_max_bytes, 16 * 1024 * 1024);
        assert!(s.mqtt.home_assistant.is_none());
        assert_eq!(s.web.listen.to_string(), "127.0.0.1:8080");
        assert!(s.capture.sources.is_none());
        assert_eq!(s.store_path, PathBuf::from("./cuebox-data"));
    }

    #[test]
    fn every_problem_is_reported_with_key_and_line() {
        let text = "[capture]\nwidth = 0\nfps = \"fast\"\ncolour = true\n\n[mqtt]\nurl = \"http://x\"\n\n[nonsense]\n";
        let got = problems(text, &[]);
        let want = [
            "cuebox.toml:4: capture.colour: unknown key",
            "cuebox.toml:3: capture.fps: invalid type: string \"fast\"",
            "cuebox.toml:9: nonsense: unknown section",
            "cuebox.toml:2: capture.width: must be between 16 and 7680 (got 0)",
            "cuebox.toml:7: mqtt.url: \"http://x\" must be \"embedded\"",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for w in want {
            assert!(got.iter().any(|g| g.starts_with(w)), "missing {w:?} in {got:#?}");
        }
    }

    #[test]
    fn the_outbox_byte_bound_is_checked() {
        let got = problems("[mqtt]\noutbox_max_bytes = 1000\n", &[]);
        assert_eq!(got, ["cuebox.toml:2: mqtt.outbox_max_bytes: must be between 65536 and 1073741824 (got 1000)"]);
    }

    #[test]
    fn recognition_rules_out_of_range_are_reported() {
        let text = "[vision]\nmin_lone_score = 1.5\nmin_studio_margin = -0.1\ntext_rate = 11\n";
        let got = problems(text, &[]);
        for want in [
            "cuebox.toml:2: vision.min_lone_score: must be between 0 and 1 (got 1.5)",
            "cuebox.toml:3: vision.min_studio_margin: must be between 0 and 1 (got -0.1)",
            "cuebox.toml:4: vision.text_rate: must be between 0 (off) and 10 reads per second (got 11)",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want:?} in {got:#?}");
        }
        assert_eq!(got.len(), 3, "{got:#?}");
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let got = problems("[capture]\nwidth = = 3\n", &[]);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("cuebox.toml:2: "), "{got:?}");
    }

    #[test]
    fn environment_overrides_the_file_and_is_named_in_errors() {
        let env = vec![
            ("CUEBOX_MQTT_URL".to_owned(), "mqtts://broker.local".to_owned()),
            ("CUEBOX_CAPTURE_WIDTH".to_owned(), "1280".to_owned()),
        ];
        let s = parse("[mqtt]\nurl = \"embedded\"\n", "f", &env).unwrap();
        assert_eq!(s.mqtt.broker, BrokerSettings::External { host: "broker.local".into(), port: 8883, tls: true });
        assert_eq!(s.capture.width, 1280);
        let got = problems("", &[("CUEBOX_CAPTURE_FPS", "0"), ("CUEBOX_NOPE", "1"), ("CUEBOX_WEB_LISTN", "x")]);
        assert!(got.iter().any(|g| g.starts_with("CUEBOX_CAPTURE_FPS: capture.fps: must be between")), "{got:#?}");
        assert!(got.iter().any(|g| g.starts_with("CUEBOX_NOPE: not a configuration key")), "{got:#?}");
        assert!(got.iter().any(|g| g.starts_with("CUEBOX_WEB_LISTN: web.listn: unknown key")), "{got:#?}");
    }

    #[test]
    fn sources_and_broker_urls_are_checked() {
        let s = parse(
            "[capture]\nsource = [\"file:///a.mp4\", \"test\"]\n[mqtt]\nurl = \"mqtt://10.0.0.5:1884\"\n",
            "f",
            &[],
        )
        .unwrap();
        assert_eq!(s.capture.sources.unwrap().len(), 2);
        assert_eq!(s.mqtt.broker, BrokerSettings::External { host: "10.0.0.5".into(), port: 1884, tls: false });
        let got =
            problems("[capture]\nsource = \"webcam\"\n[mqtt]\nurl = \"mqtt://h:99999\"\npassword_file = \"/p\"\n", &[]);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].contains("capture.source"));
    }

    #[test]
    fn tls_and_login_keys_must_fit_together() {
        let got =
            problems("[mqtt]\ntls_ca = \"/ca.pem\"\nclient_cert = \"/c.pem\"\nembedded_users_file = \"/u\"\n", &[]);
        assert!(got.iter().any(|g| g.contains("mqtt.tls_ca: only applies to an mqtts:// broker")), "{got:#?}");
        assert!(got.iter().any(|g| g.contains("mqtt.client_cert and mqtt.client_key go together")), "{got:#?}");
        assert!(got.iter().any(|g| g.contains("the daemon needs its own login too")), "{got:#?}");
        let s = parse("[mqtt]\nurl = \"mqtts://b:8883\"\ntls_ca = \"/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\nhome_assistant = true\n", "f", &[]).unwrap();
        assert_eq!(s.mqtt.client_cert, Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem"))));
        assert_eq!(s.mqtt.home_assistant.as_deref(), Some("homeassistant"));
    }

    #[test]
    fn chat_sources_are_each_checked_and_named() {
        let text = "[chat]\nwebhook_token_file = \"/t\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\n\n[[chat.sources]]\nkind = \"social-stream\"\nsession_file = \"/s\"\nplatform = \"tiktok\"\n";
        let s = parse(text, "f", &[]).unwrap();
        assert_eq!(s.chat.webhook_token_file.as_deref(), Some(Path::new("/t")));
        assert_eq!(
            s.chat.connectors,
            [
                ConnectorSettings {
                    name: "oba-live-tool".into(),
                    url: OBA_DEFAULT_URL.into(),
                    kind: ConnectorKind::ObaLiveTool { platform: "douyin".into() }
                },
                ConnectorSettings {
                    name: "social-stream".into(),
                    url: SOCIAL_STREAM_DEFAULT_URL.into(),
                    kind: ConnectorKind::SocialStream { session_file: "/s".into(), platform: Some("tiktok".into()) }
                },
            ]
        );
        let got = problems(
            "[chat]\nretry_max_ms = 5\n[[chat.sources]]\nkind = \"irc\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\nurl = \"http://x\"\ncolour = 1\n[[chat.sources]]\nkind = \"social-stream\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\nname = \"webhook\"\n",
            &[],
        );
        for want in [
            "chat.retry_max_ms: must be between 200 and 600000",
            "chat.sources[0].kind: \"irc\" is not a connector",
            "chat.sources[1].colour: unknown field",
            "chat.sources[2].session_file: a social-stream source needs",
            "chat.sources[4].name: \"webhook\" must match",
        ] {
            assert!(got.iter().any(|g| g.contains(want)), "missing {want:?} in {got:#?}");
        }
        let got = problems(
            "[[chat.sources]]\nkind = \"oba-live-tool\"\nurl = \"http://x\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\n",
            &[],
        );
        assert!(got.iter().any(|g| g.contains("chat.sources[0].url: \"http://x\" must be a ws://")), "{got:#?}");
        assert!(
            got.iter().any(|g| g.contains("chat.sources[1].name: \"oba-live-tool\" names another source")),
            "{got:#?}"
        );
    }

    #[test]
    fn field_names_come_from_the_struct() {
        assert_eq!(field_names::<StoreSection>(), &["path"]);
        assert!(field_names::<MqttSection>().contains(&"password_file"));
    }
}
