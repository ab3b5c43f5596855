//! Test scaffolding: the built binary, the demo assets, a real mosquitto, an MQTT subscriber.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("repository root").to_owned()
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A file made by `cargo xtask setup`; the test fails (never skips) when it is missing.
pub fn asset(relative: &str) -> PathBuf {
    let path = repo().join(relative);
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    path
}

pub fn cuebox() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cuebox"));
    command.current_dir(repo()).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CUEBOX_")) {
        command.env_remove(key);
    }
    command
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("cuebox runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's mosquitto on a free loopback port, stopped when dropped.
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    _folder: tempfile::TempDir,
    config: PathBuf,
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::start_with(|port, _| format!("listener {port} 127.0.0.1\nallow_anonymous true\n"))
    }

    /// `config` gets the port and the broker's folder and returns the configuration text.
    pub fn start_with(config: impl FnOnce(u16, &Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Started as root, mosquitto runs as its own user: let it write its persistence file.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let port = free_port();
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, format!("{}\nlog_dest stderr\nlog_type all\n", config(port, dir.path()))).unwrap();
        let mut broker = Self { child: None, port, _folder: dir, config: path };
        broker.restart();
        broker
    }

    /// Starts the broker again (after `stop`) on the same port with the same configuration.
    pub fn restart(&mut self) {
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto is installed (cargo xtask setup)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("mosquitto exited before listening").unwrap();
            if line.contains("Error") {
                panic!("mosquitto: {line}");
            }
            if line.contains(&format!("listen socket on port {}", self.port)) {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// SIGTERM (mosquitto saves its persistent state), then wait for it to exit. A SIGTERM that
    /// arrives just after mosquitto opened its listeners but before its main loop began is lost
    /// (the loop resets its "run" flag), so it is sent again until mosquitto exits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            for _ in 0..50 {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                for _ in 0..10 {
                    if child.try_wait().unwrap().is_some() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            panic!("mosquitto did not stop on SIGTERM");
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A daemon configuration written to a file: the demo catalog's store, the given sources.
pub struct DaemonConfig {
    pub device: String,
    pub web_port: u16,
    pub path: PathBuf,
}

impl DaemonConfig {
    pub fn write(dir: &Path, device: &str, sources: &[PathBuf], store: &Path, mqtt: &str, extra: &str) -> Self {
        let web_port = free_port();
        let sources: Vec<String> = sources.iter().map(|s| format!("\"file://{}\"", s.display())).collect();
        let text = format!(
            "[device]\nid = \"{device}\"\n[capture]\nsource = [{}]\n[store]\npath = \"{}\"\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n[mqtt]\n{mqtt}\n{extra}\n",
            sources.join(", "),
            store.display()
        );
        let path = dir.join(format!("{device}.toml"));
        std::fs::write(&path, text).unwrap();
        Self { device: device.to_owned(), web_port, path }
    }

    pub fn topic(&self, suffix: &str) -> String {
        format!("cuebox/{}/{suffix}", self.device)
    }

    /// The daemon's Prometheus value `name` (0 when the daemon does not answer).
    pub fn metric(&self, name: &str) -> f64 {
        http_get(self.web_port, "/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cuebox_{name} ")).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// The demo catalog imported into a fresh store.
pub fn demo_store() -> tempfile::TempDir {
    let db = tempfile::tempdir().unwrap();
    let out = run(cuebox().args(["catalog", "import"]).arg(asset("demo/catalog.yaml")).arg("--db").arg(db.path()));
    assert!(out.status.success(), "{}", stderr(&out));
    db
}

/// Short clips (2.4 s each) of the two demo products, so that the product changes often.
pub fn short_clips(dir: &Path) -> Vec<PathBuf> {
    ["demo/clips/1-box.mp4", "demo/clips/2-cup.mp4"]
        .iter()
        .map(|clip| {
            let out = dir.join(format!("short-{}", Path::new(clip).file_name().unwrap().to_string_lossy()));
            let status = Command::new("gst-launch-1.0")
                .args(["-q", "filesrc"])
                .arg(format!("location={}", asset(clip).display()))
                .args([
                    "!",
                    "qtdemux",
                    "!",
                    "h264parse",
                    "!",
                    "avdec_h264",
                    "!",
                    "identity",
                    "eos-after=60",
                    "!",
                    "videoconvert",
                ])
                .args(["!", "x264enc", "speed-preset=ultrafast", "key-int-max=25", "!", "mp4mux", "!", "filesink"])
                .arg(format!("location={}", out.display()))
                .status()
                .unwrap();
            assert!(status.success());
            out
        })
        .collect()
}

/// A plain HTTP/1.0 GET on loopback; the body, or "" when nothing answers.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

/// How many files the process `pid` has open.
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Polls `condition` every 100 ms until it holds, for state only visible by asking.
pub fn eventually(what: &str, timeout: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The daemon as a child process, stopped when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn start(config: &Path) -> Self {
        Self::start_with_env(config, &[])
    }

    /// Starts the daemon with extra environment variables.
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Self {
        let child = cuebox()
            .arg("run")
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cuebox starts");
        Self { child }
    }

    /// Starts the daemon with its log written to `log`.
    pub fn start_logged(config: &Path, log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        let child = cuebox().arg("run").arg("--config").arg(config).stderr(file).spawn().expect("cuebox starts");
        Self { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGHUP: reload the configuration.
    pub fn hangup(&self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait: the daemon must stop by itself and succeed.
    pub fn stop(mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "daemon exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "daemon did not stop within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub qos: QoS,
    pub at: Instant,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!("{} is not JSON ({e}): {:?}", self.topic, String::from_utf8_lossy(&self.payload))
        })
    }
}

/// How a subscriber connects.
#[derive(Clone, Debug, Default)]
pub struct Login {
    pub client_id: Option<String>,
    pub username: Option<(String, String)>,
    /// Keep the session (and its queued messages) across disconnections.
    pub persistent: bool,
}

/// Whether the broker refuses a connection with this login.
pub fn login_refused(port: u16, login: Login) -> bool {
    let mut options = MqttOptions::new(format!("probe-{}", free_port()), "127.0.0.1", port);
    if let Some((user, password)) = login.username {
        options.set_credentials(user, password);
    }
    let (_client, mut connection) = Client::new(options, 4);
    for event in connection.iter().take(5) {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => return ack.code != rumqttc::ConnectReturnCode::Success,
            Ok(_) => {}
            // Some brokers (rumqttd) close the connection without an answer.
            Err(_) => return true,
        }
    }
    false
}

/// An MQTT subscriber whose messages arrive on a channel; it reconnects by itself.
pub struct Subscriber {
    pub messages: mpsc::Receiver<Message>,
    pub client: Client,
}

impl Subscriber {
    pub fn connect(port: u16, filter: &str) -> Self {
        Self::connect_as(port, filter, Login::default())
    }

    pub fn connect_as(port: u16, filter: &str, login: Login) -> Self {
        let id = login.client_id.clone().unwrap_or_else(|| format!("test-{}-{}", std::process::id(), free_port()));
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        options.set_clean_session(!login.persistent);
        if let Some((user, password)) = login.username {
            options.set_credentials(user, password);
        }
        let (client, mut connection) = Client::new(options, 16);
        client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        let (tx, messages) = mpsc::channel();
        let (subscribed_tx, subscribed) = mpsc::channel();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let message = Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                            qos: p.qos,
                            at: Instant::now(),
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        subscribed.recv_timeout(Duration::from_secs(20)).expect("the broker confirms the subscription");
        Self { messages, client }
    }

    /// The first message on `topic` that satisfies `accept`, within `timeout`.
    pub fn wait_for(&self, topic: &str, timeout: Duration, accept: impl Fn(&Message) -> bool) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(m) if m.topic == topic && accept(&m) => return Some(m),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// The next message on any topic, within `timeout`.
    pub fn wait_for_any(&self, timeout: Duration) -> Option<Message> {
        self.messages.recv_timeout(timeout).ok()
    }

    /// Every message received within `window`.
    pub fn collect(&self, window: Duration) -> Vec<Message> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out
    }
}
