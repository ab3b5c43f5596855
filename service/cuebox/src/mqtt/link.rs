//! The connection: options (TLS, login, Last Will) and the task that polls it, reconnecting
//! with a doubling, jittered backoff, and hands connection events and inputs on.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use rumqttc::{
    ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing as Sent, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{LinkConfig, Topic, topic};
use crate::chat::sources::{ChatInput, SourceHandle};
use crate::config::BrokerSettings;
use crate::engine::EngineInput;
use crate::messages::{parse_chat, parse_command};
use crate::metrics::Metrics;

const MAX_PACKET: usize = 1024 * 1024;

/// Most `cmd/*` messages taken per second, in bursts of up to [`COMMAND_BURST`]; a host presses
/// buttons a few times a second, a flood beyond is dropped and counted.
pub const COMMAND_RATE: f64 = 20.0;
pub const COMMAND_BURST: f64 = 40.0;

/// A token bucket: `rate` a second, at most `burst` at once.
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: std::time::Instant,
}

impl RateLimit {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, tokens: burst, refilled: std::time::Instant::now() }
    }

    /// Whether one more message may pass now.
    pub fn allow(&mut self, now: std::time::Instant) -> bool {
        self.tokens =
            (self.tokens + now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The input topics whose problems are logged by name; any other topic under `cmd/` is logged
/// as `cmd/other`, so that the set of logged kinds stays bounded whatever topics are sent.
fn logged_topic(suffix: &str) -> &'static str {
    match suffix {
        "cmd/cue" => "cmd/cue",
        "cmd/product" => "cmd/product",
        _ => "cmd/other",
    }
}

/// What the poller tells the publisher.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkEvent {
    Connected,
    Disconnected,
    PubAck,
    SubAck,
}

pub fn options(config: &LinkConfig) -> anyhow::Result<MqttOptions> {
    let settings = &config.settings;
    let (host, port, tls) = match (&settings.broker, &config.embedded) {
        (BrokerSettings::Embedded { .. }, Some((inner, _))) => (inner.ip().to_string(), inner.port(), false),
        (BrokerSettings::Embedded { listen, .. }, None) => (listen.ip().to_string(), listen.port(), false),
        (BrokerSettings::External { host, port, tls }, _) => (host.clone(), *port, *tls),
    };
    let mut options = MqttOptions::new(&config.client_id, host, port);
    options.set_keep_alive(Duration::from_secs(10));
    // Larger than any input we accept, so that an oversized one is read and refused by us
    // (and counted) instead of breaking the connection.
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    options.set_clean_session(true);
    options.set_last_will(LastWill::new(topic(&config.prefix, Topic::Availability), "offline", QoS::AtLeastOnce, true));
    if let Some((_, (user, password))) = &config.embedded {
        options.set_credentials(user, password);
    } else if let Some(user) = &settings.username {
        let password = match &settings.password_file {
            Some(path) => read_secret(path).context("mqtt.password_file")?,
            None => String::new(),
        };
        options.set_credentials(user, password);
    }
    if tls {
        let client_config = tls_config(settings.tls_ca.as_deref(), settings.client_cert.as_ref())?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(client_config))));
    }
    Ok(options)
}

/// A secret file's content without its trailing newline.
pub fn read_secret(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn tls_config(
    ca: Option<&Path>,
    client: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("mqtt.tls_ca {}", path.display()))?;
            let certificates: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<_, _>>()
                .with_context(|| format!("mqtt.tls_ca {}: not PEM certificates", path.display()))?;
            if certificates.is_empty() {
                bail!("mqtt.tls_ca {}: no certificate in the file", path.display());
            }
            for certificate in certificates {
                roots.add(certificate).with_context(|| format!("mqtt.tls_ca {}", path.display()))?;
            }
        }
        None => roots = system_roots().context("no mqtt.tls_ca")?,
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let pem = std::fs::read(cert).with_context(|| format!("mqtt.client_cert {}", cert.display()))?;
            let chain = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .context("mqtt.client_cert: not PEM")?;
            let pem = std::fs::read(key).with_context(|| format!("mqtt.client_key {}", key.display()))?;
            let key = rustls_pemfile::private_key(&mut pem.as_slice())
                .context("mqtt.client_key: not PEM")?
                .context("mqtt.client_key: no private key in the file")?;
            builder
                .with_client_auth_cert(chain, key)
                .context("mqtt.client_cert / mqtt.client_key do not make a client certificate")
        }
    }
}

/// The system's CA bundle.
pub fn system_roots() -> anyhow::Result<rustls::RootCertStore> {
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").context("no system CA bundle")?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pemfile::certs(&mut system.as_slice()).flatten() {
        let _ = roots.add(certificate);
    }
    Ok(roots)
}

/// Why a connection attempt failed, for the operator.
fn explain(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the login: wrong mqtt.username or password".into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "the broker refused the login (not authorised): check mqtt.username and its password".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        ConnectionError::Tls(e) => format!("TLS: {e}"),
        other => other.to_string(),
    }
}

/// Where the inputs of `cmd/*` and `chat/in` go.
pub struct Inputs {
    pub prefix: String,
    pub commands: mpsc::Sender<EngineInput>,
    /// The `chat/in` source.
    pub chat: SourceHandle,
}

pub async fn poll(
    mut eventloop: EventLoop,
    inputs: Inputs,
    events: mpsc::Sender<LinkEvent>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);
    let mut backoff = FIRST;
    let mut last_error = String::new();
    let mut logged_kinds = HashSet::new();
    let mut retained_logged = false;
    let mut commands_rate = RateLimit::new(COMMAND_RATE, COMMAND_BURST);
    let tell = |event: LinkEvent| {
        if events.try_send(event).is_err() {
            tracing::error!("publisher not listening to the connection");
        }
    };
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                metrics.set_mqtt_connected(true);
                tracing::info!("MQTT connected");
                backoff = FIRST;
                last_error.clear();
                tell(LinkEvent::Connected);
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => tell(LinkEvent::PubAck),
            Ok(Event::Incoming(Packet::SubAck(_))) => tell(LinkEvent::SubAck),
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(suffix) = p.topic.strip_prefix(&inputs.prefix).and_then(|t| t.strip_prefix('/')) else {
                    continue;
                };
                if p.retain {
                    // A retained input would act again on every (re)connection: a pinned product
                    // would be pinned again after each restart.
                    metrics.inputs_retained_ignored.fetch_add(1, Ordering::Relaxed);
                    if suffix == "chat/in" {
                        inputs.chat.received();
                        inputs.chat.stats.ignored.fetch_add(1, Ordering::Relaxed);
                    }
                    if !retained_logged {
                        retained_logged = true;
                        tracing::warn!(
                            topic = suffix,
                            "retained message on an input topic ignored (inputs must not be retained; more are only counted)"
                        );
                    }
                    continue;
                }
                if suffix == "chat/in" {
                    let received = std::time::Instant::now();
                    inputs.chat.received();
                    match parse_chat(&p.payload) {
                        Ok(message) => {
                            let input = ChatInput {
                                platform: message.platform.unwrap_or_else(|| "mqtt".into()),
                                user: message.user,
                                text: message.text,
                                ts: message.ts,
                                id: message.id,
                            };
                            inputs.chat.offer(input, received);
                        }
                        Err(error) => {
                            metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                            inputs.chat.stats.reject(error.kind(), &error);
                        }
                    }
                    continue;
                }
                if !commands_rate.allow(std::time::Instant::now()) {
                    let dropped = metrics.commands_over_rate.fetch_add(1, Ordering::Relaxed) + 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(
                            topic = logged_topic(suffix),
                            dropped,
                            "commands over the rate: dropped and counted"
                        );
                    }
                    continue;
                }
                match parse_command(suffix, &p.payload) {
                    Ok(command) => {
                        if inputs.commands.try_send(EngineInput::Command(command)).is_err() {
                            metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(topic = suffix, "engine busy: command dropped");
                        }
                    }
                    Err(error) => {
                        metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                        if logged_kinds.insert((logged_topic(suffix), std::mem::discriminant(&error))) {
                            tracing::warn!(topic = suffix, %error, "input dropped (more of this kind are only counted)");
                        }
                    }
                }
            }
            Ok(Event::Outgoing(Sent::Disconnect)) => break,
            Ok(_) => {}
            Err(error) => {
                if metrics.set_mqtt_connected(false) {
                    tell(LinkEvent::Disconnected);
                }
                let reason = explain(&error);
                if reason != last_error {
                    tracing::warn!(error = %reason, "MQTT unavailable; retrying with backoff");
                    last_error = reason;
                }
                let delay = backoff + jitter(backoff / 4);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
                backoff = (backoff * 2).min(CAP);
            }
        }
    }
    metrics.set_mqtt_connected(false);
    stop.cancel();
}

/// A pseudo-random duration below `max`, so that many boxes do not reconnect in step.
pub fn jitter(max: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let max_ms = max.as_millis().max(1) as u32;
    Duration::from_millis(u64::from(nanos.wrapping_mul(2_654_435_761) % max_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_rate_passes_a_burst_then_its_rate() {
        let start = std::time::Instant::now();
        let mut limit = RateLimit::new(20.0, 40.0);
        assert_eq!((0..100).filter(|_| limit.allow(start)).count(), 40);
        let later = start + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| limit.allow(later)).count(), 10);
    }

    #[test]
    fn logged_kinds_are_bounded_whatever_the_topic() {
        let topics: HashSet<_> = (0..1000).map(|i| logged_topic(&format!("cmd/{i}"))).collect();
        assert_eq!(topics.len(), 1);
        assert_eq!(logged_topic("cmd/cue"), "cmd/cue");
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(25)) < Duration::from_millis(25));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_refused_login_is_explained() {
        let text = explain(&ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword));
        assert!(text.contains("refused the login: wrong mqtt.username or password"), "{text}");
        let text = explain(&ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized));
        assert!(text.contains("refused the login"), "{text}");
    }
}
