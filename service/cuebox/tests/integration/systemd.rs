//! The daemon under systemd's notify protocol (Type=notify, WatchdogSec=), spoken to a socket of
//! the test's own: READY=1 once the pipeline is up, WATCHDOG=1 only while frames flow and are
//! recognized, STOPPING=1 on the way out.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::{Daemon, DaemonConfig, demo_store, free_port, short_clips};

/// 400 ms: the daemon pets every 200 ms while it makes progress.
const WATCHDOG_USEC: &str = "400000";

/// The notify socket systemd would give the service.
struct Manager {
    socket: UnixDatagram,
}

impl Manager {
    fn bind(dir: &Path) -> (Self, String) {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        (Self { socket }, path.display().to_string())
    }

    /// The notifications received within `window`, one state per line.
    fn collect(&self, window: Duration) -> Vec<String> {
        let until = Instant::now() + window;
        let mut states = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            self.socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            match self.socket.recv(&mut buffer) {
                Ok(n) => states.extend(String::from_utf8_lossy(&buffer[..n]).lines().map(str::to_owned)),
                Err(_) => break,
            }
        }
        states
    }

    /// Waits for `state` (up to `timeout`), returning everything received until then.
    fn wait_for(&self, state: &str, timeout: Duration) -> Vec<String> {
        let until = Instant::now() + timeout;
        let mut states = Vec::new();
        while !states.iter().any(|s| s == state) {
            let left = until
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no {state} within {timeout:?}: {states:?}"));
            states.extend(self.collect(left.min(Duration::from_millis(200))));
        }
        states
    }
}

fn embedded_broker() -> String {
    format!(
        "url = \"embedded\"\nembedded_listen = \"127.0.0.1:{}\"\nembedded_ws_listen = \"127.0.0.1:{}\"",
        free_port(),
        free_port()
    )
}

/// The daemon on the demo with its own notify socket and a watchdog, once it has sent READY=1.
fn start_notifying(name: &str, env: &[(&str, &str)]) -> (TempDir, Manager, Daemon) {
    let store = demo_store();
    let clips = short_clips(store.path());
    let config = DaemonConfig::write(store.path(), name, &clips, store.path(), &embedded_broker(), "");
    let (manager, socket) = Manager::bind(store.path());
    let notify = [("NOTIFY_SOCKET", socket.as_str()), ("WATCHDOG_USEC", WATCHDOG_USEC)];
    let daemon = Daemon::start_with_env(&config.path, &[&notify[..], env].concat());
    manager.wait_for("READY=1", Duration::from_secs(30));
    (store, manager, daemon)
}

#[test]
fn ready_then_watchdog_pets_while_frames_flow_and_stopping_at_the_end() {
    let (_store, manager, daemon) = start_notifying("notify", &[]);
    let pets = manager.collect(Duration::from_secs(3)).iter().filter(|s| *s == "WATCHDOG=1").count();
    assert!(pets >= 5, "frames flow, so the watchdog is petted every 200 ms: {pets} pets in 3 s");
    daemon.stop();
    assert!(
        manager.collect(Duration::from_millis(500)).iter().any(|s| s == "STOPPING=1"),
        "STOPPING=1 on a clean stop"
    );
}

#[test]
fn a_camera_that_never_delivers_lets_the_watchdog_fire() {
    // Nothing listens there: the source retries for ever and no frame arrives.
    let dead_camera = format!("rtsp://127.0.0.1:{}/camera", free_port());
    let (_store, manager, daemon) = start_notifying("stalled", &[("CUEBOX_CAPTURE_SOURCE", &dead_camera)]);
    let states = manager.collect(Duration::from_secs(3));
    assert!(!states.iter().any(|s| s == "WATCHDOG=1"), "no frames, no pets: {states:?}");
    daemon.stop();
}
