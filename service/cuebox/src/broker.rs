//! The embedded MQTT broker (rumqttd) of the default setup: MQTT and MQTT-over-WebSocket,
//! loopback unless configured otherwise.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use anyhow::{Context, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

fn server(name: &str, listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Starts the broker on its own threads; it lives as long as the process.
pub fn start(listen: SocketAddr, ws_listen: SocketAddr) -> anyhow::Result<()> {
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
        v4: Some(HashMap::from([("mqtt".to_owned(), server("mqtt", listen))])),
        ws: Some(HashMap::from([("ws".to_owned(), server("ws", ws_listen))])),
        ..Config::default()
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(?error, "embedded broker stopped");
            }
        })
        .context("starting the embedded broker")?;
    tracing::info!(%listen, %ws_listen, "embedded MQTT broker listening");
    Ok(())
}
