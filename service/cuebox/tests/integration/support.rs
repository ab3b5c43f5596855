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
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n")).unwrap();
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto is installed (cargo xtask setup)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("mosquitto exited before listening").unwrap();
            if line.contains(&format!("Opening ipv4 listen socket on port {port}")) {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Self { child, port, _dir: dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon as a child process, stopped when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn start(config: &Path) -> Self {
        let child = cuebox().arg("run").arg("--config").arg(config).stderr(Stdio::inherit()).spawn().expect("cuebox starts");
        Self { child }
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
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {:?}", self.topic, String::from_utf8_lossy(&self.payload)))
    }
}

/// An MQTT subscriber whose messages arrive on a channel.
pub struct Subscriber {
    pub messages: mpsc::Receiver<Message>,
    _client: Client,
}

impl Subscriber {
    pub fn connect(port: u16, filter: &str) -> Self {
        let id = format!("test-{}-{}", std::process::id(), free_port());
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, 16);
        client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let message = Message { topic: p.topic.clone(), payload: p.payload.to_vec(), retain: p.retain };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Self { messages, _client: client }
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

    /// Every message received within `window`.
    pub fn collect(&self, window: Duration) -> Vec<Message> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(m) => out.push(m),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }
}
