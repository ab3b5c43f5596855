//! The embedded MQTT broker of the default setup: rumqttd on a loopback port of its own, behind
//! the gate (gate.rs) that serves MQTT and MQTT-over-WebSocket clients, loopback unless
//! configured otherwise, and lets each do only what its login allows.

mod gate;
mod packet;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::capacity::ConnectionCap;
use crate::metrics::Metrics;
use crate::worker::Worker;
use gate::{Gate, Policy};
pub use gate::{PageLogins, Role};

/// Reads `user:password` lines (blank lines and `#` comments ignored).
pub fn read_users(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("mqtt.embedded_users_file {}", path.display()))?;
    let mut users = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                users.insert(user.to_owned(), password.to_owned());
            }
            _ => bail!("mqtt.embedded_users_file {}:{}: expected user:password", path.display(), number + 1),
        }
    }
    if users.is_empty() {
        bail!("mqtt.embedded_users_file {}: no user in the file", path.display());
    }
    Ok(users)
}

fn server(listen: SocketAddr, login: &(String, String)) -> ServerSettings {
    ServerSettings {
        name: "inner".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 100,
            auth: Some(HashMap::from([login.clone()])),
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// The embedded broker once started: the gate in front, and where the daemon itself connects.
pub struct Embedded {
    /// rumqttd's own loopback address, for the daemon's link.
    pub inner: SocketAddr,
    /// The login rumqttd accepts (random at each start), for the daemon's link and the gate.
    pub inner_login: (String, String),
    gate: Arc<Gate>,
    listeners: [(std::net::TcpListener, bool); 2],
}

/// Where the embedded broker listens and who may log in.
pub struct Listen<'a> {
    pub mqtt: SocketAddr,
    pub websocket: SocketAddr,
    pub users: Option<HashMap<String, String>>,
    pub daemon_user: Option<&'a str>,
    pub prefix: &'a str,
}

/// Starts rumqttd on a loopback port of its own, on its own threads (it lives as long as the
/// process), and binds the gate's listeners (served by [`Embedded::serve`]).
pub fn start(listen: Listen<'_>, pages: PageLogins, metrics: Arc<Metrics>) -> anyhow::Result<Embedded> {
    let listeners = [(bind("MQTT", listen.mqtt)?, false), (bind("MQTT-over-WebSocket", listen.websocket)?, true)];
    let inner = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|probe| probe.local_addr())
        .context("embedded broker: no free loopback port")?;
    let inner_login = ("cuebox-gate".to_owned(), crate::secret::random_hex(32).context("embedded broker login")?);
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: gate::MAX_CLIENTS + 8,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 8,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("inner".to_owned(), server(inner, &inner_login))])),
        ..Config::default()
    };
    // rumqttd's `start` returns only once all its listeners have ended; the worker then builds a
    // new broker on the same address after a wait, and `/healthz` says it is restarting.
    let broker = Worker::spawn("broker", &metrics.workers, move |_| {
        Broker::new(config.clone()).start().context("embedded broker")?;
        anyhow::bail!("the embedded broker stopped: its listeners ended")
    })?;
    // It lives as long as the process: rumqttd cannot be asked to stop.
    drop(broker);
    let login_required = listen.users.is_some();
    let policy = Policy {
        prefix: listen.prefix.to_owned(),
        users: listen.users,
        daemon_user: listen.daemon_user.map(str::to_owned),
        pages,
        filters: gate::SubscriptionFilters::default(),
    };
    let gate = Arc::new(Gate {
        policy,
        inner,
        inner_login: inner_login.clone(),
        metrics,
        connections: ConnectionCap::new(gate::MAX_CLIENTS),
    });
    tracing::info!(listen = %listen.mqtt, ws_listen = %listen.websocket, login_required, "embedded MQTT broker listening");
    Ok(Embedded { inner, inner_login, gate, listeners })
}

fn bind(what: &str, address: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(address).map_err(|error| {
        anyhow::anyhow!(
            "embedded broker: cannot listen for {what} on {address}: {error} (is another broker running? \
             point mqtt.url at it, or change mqtt.embedded_listen / mqtt.embedded_ws_listen)"
        )
    })
}

impl Embedded {
    /// Serves the gate's listeners until `cancel`.
    pub fn serve(self, cancel: &CancellationToken, tasks: &TaskTracker) -> anyhow::Result<()> {
        for (listener, websocket) in self.listeners {
            listener.set_nonblocking(true).context("embedded broker listener")?;
            let listener = tokio::net::TcpListener::from_std(listener).context("embedded broker listener")?;
            tasks.spawn(self.gate.clone().serve(listener, websocket, cancel.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_lines_are_checked_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        std::fs::write(&file, "# tablets\ntablet:s3cret\n\ncuebox:pw:with:colons\n").unwrap();
        let users = read_users(&file).unwrap();
        assert_eq!(users.get("cuebox").map(String::as_str), Some("pw:with:colons"));
        std::fs::write(&file, "tablet:ok\nno-password\n").unwrap();
        let error = read_users(&file).unwrap_err().to_string();
        assert!(error.ends_with(":2: expected user:password"), "{error}");
    }
}
