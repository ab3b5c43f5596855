//! The embedded MQTT broker (rumqttd) of the default setup: MQTT and MQTT-over-WebSocket,
//! loopback unless configured otherwise.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use anyhow::{Context, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::worker::{Worker, Workers};

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

fn server(name: &str, listen: SocketAddr, users: Option<&HashMap<String, String>>) -> ServerSettings {
    ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 100,
            auth: users.cloned(),
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Starts the broker on its own threads, supervised (started again if it stops or panics); it
/// lives as long as the process. With `users`, every client must log in as one of them.
pub fn start(
    listen: SocketAddr,
    ws_listen: SocketAddr,
    users: Option<&HashMap<String, String>>,
    workers: &Workers,
) -> anyhow::Result<()> {
    for (what, address) in [("MQTT", listen), ("MQTT-over-WebSocket", ws_listen)] {
        if let Err(error) = TcpListener::bind(address) {
            bail!(
                "embedded broker: cannot listen for {what} on {address}: {error} (is another broker running? \
                 point mqtt.url at it, or change mqtt.embedded_listen / mqtt.embedded_ws_listen)"
            );
        }
    }
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 256,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 8,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("mqtt".to_owned(), server("mqtt", listen, users))])),
        ws: Some(HashMap::from([("ws".to_owned(), server("ws", ws_listen, users))])),
        ..Config::default()
    };
    // rumqttd's `start` returns only once all its listeners have ended; the worker then builds a
    // new broker on the same addresses after a wait, and `/healthz` says it is restarting.
    let broker = Worker::spawn("broker", workers, move |_| {
        Broker::new(config.clone()).start().context("embedded broker")?;
        anyhow::bail!("the embedded broker stopped: its listeners ended")
    })?;
    // It lives as long as the process: rumqttd cannot be asked to stop.
    drop(broker);
    tracing::info!(%listen, %ws_listen, login_required = users.is_some(), "embedded MQTT broker listening");
    Ok(())
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
