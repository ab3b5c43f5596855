//! The MQTT side: a bounded outbox that producers never wait on, one task that publishes from
//! it, and one task that polls the connection (never the same task, so neither can deadlock
//! the other), reconnecting with a doubling, jittered backoff.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing as Sent, Packet, QoS};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{BrokerSettings, MqttSettings};
use crate::engine::EngineInput;
use crate::messages::{InputError, parse_command};
use crate::metrics::Metrics;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Availability,
    Product,
    Overlay,
    Prompt,
    /// The current cue card, retained so that a tablet that (re)connects shows it at once.
    Cue,
    Metrics,
}

impl Topic {
    pub fn suffix(self) -> &'static str {
        match self {
            Topic::Availability => "availability",
            Topic::Product => "product",
            Topic::Overlay => "overlay",
            Topic::Prompt => "prompt",
            Topic::Cue => "cue",
            Topic::Metrics => "metrics",
        }
    }

    fn qos(self) -> QoS {
        match self {
            Topic::Metrics => QoS::AtMostOnce,
            _ => QoS::AtLeastOnce,
        }
    }

    fn retained(self) -> bool {
        matches!(self, Topic::Availability | Topic::Product | Topic::Overlay | Topic::Cue)
    }
}

#[derive(Clone, Debug)]
pub struct Outgoing {
    pub topic: Topic,
    pub payload: Vec<u8>,
}

/// The producers' end of the outbox: sending never waits; a full outbox drops and counts.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn channel(capacity: usize, metrics: Arc<Metrics>) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx, metrics }, rx)
    }

    pub fn send(&self, message: Outgoing) {
        if self.tx.try_send(message).is_err() {
            let dropped = self.metrics.outbox_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "MQTT outbox full: message dropped");
            }
        }
        self.metrics.outbox_depth.store(self.depth() as u64, Ordering::Relaxed);
    }

    pub fn json<T: Serialize>(&self, topic: Topic, value: &T) {
        match serde_json::to_vec(value) {
            Ok(payload) => self.send(Outgoing { topic, payload }),
            Err(error) => tracing::error!(%error, topic = topic.suffix(), "payload not serialisable"),
        }
    }

    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Everything the link needs to connect.
pub struct LinkConfig {
    pub settings: MqttSettings,
    pub prefix: String,
    pub client_id: String,
}

/// Connects (in the background, retrying) and starts the publisher and poller tasks.
pub fn start(
    config: LinkConfig,
    outbox: mpsc::Receiver<Outgoing>,
    commands: mpsc::Sender<EngineInput>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let (host, port) = match &config.settings.broker {
        BrokerSettings::Embedded { listen, .. } => (listen.ip().to_string(), listen.port()),
        BrokerSettings::External { tls: true, .. } => {
            let ca = config.settings.tls_ca.as_ref().map(|p| format!(" with CA {}", p.display())).unwrap_or_default();
            bail!("mqtt.url: mqtts://{ca} (TLS) is not supported by this build yet; use mqtt://")
        }
        BrokerSettings::External { host, port, .. } => (host.clone(), *port),
    };
    let mut options = MqttOptions::new(&config.client_id, host, port);
    options.set_keep_alive(Duration::from_secs(10));
    options.set_clean_session(true);
    options.set_last_will(LastWill::new(
        topic(&config.prefix, Topic::Availability),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &config.settings.username {
        let password = match &config.settings.password_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("mqtt.password_file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => String::new(),
        };
        options.set_credentials(user, password);
    }
    let (client, eventloop) = AsyncClient::new(options, 64);
    let (connected_tx, connected_rx) = watch::channel(0u64);
    let poll_stop = CancellationToken::new();
    tasks.spawn(poll(eventloop, config.prefix.clone(), commands, connected_tx, metrics.clone(), poll_stop.clone()));
    tasks.spawn(publish(client, config.prefix, outbox, connected_rx, metrics, cancel, poll_stop));
    Ok(())
}

pub fn topic(prefix: &str, topic: Topic) -> String {
    format!("{prefix}/{}", topic.suffix())
}

async fn publish(
    client: AsyncClient,
    prefix: String,
    mut outbox: mpsc::Receiver<Outgoing>,
    mut connected: watch::Receiver<u64>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    poll_stop: CancellationToken,
) {
    let mut retained: HashMap<Topic, Vec<u8>> = HashMap::from([(Topic::Availability, b"online".to_vec())]);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            changed = connected.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Err(error) = client.subscribe(format!("{prefix}/cmd/#"), QoS::AtLeastOnce).await {
                    tracing::warn!(%error, "subscribing to commands failed");
                }
                for (t, payload) in &retained {
                    send(&client, &prefix, *t, payload.clone()).await;
                }
            }
            message = outbox.recv() => {
                let Some(message) = message else { break };
                metrics.outbox_depth.store(outbox.len() as u64, Ordering::Relaxed);
                if message.topic.retained() {
                    retained.insert(message.topic, message.payload.clone());
                }
                send(&client, &prefix, message.topic, message.payload).await;
            }
        }
    }
    let goodbye = async {
        send(&client, &prefix, Topic::Availability, b"offline".to_vec()).await;
        let _ = client.disconnect().await;
    };
    if tokio::time::timeout(Duration::from_secs(1), goodbye).await.is_err() {
        tracing::warn!("could not say offline to the broker in time");
    }
    tokio::select! {
        _ = poll_stop.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(2)) => poll_stop.cancel(),
    }
}

async fn send(client: &AsyncClient, prefix: &str, t: Topic, payload: Vec<u8>) {
    if let Err(error) = client.publish(topic(prefix, t), t.qos(), t.retained(), payload).await {
        tracing::warn!(%error, topic = t.suffix(), "publish failed");
    }
}

async fn poll(
    mut eventloop: EventLoop,
    prefix: String,
    commands: mpsc::Sender<EngineInput>,
    connected: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);
    let mut backoff = FIRST;
    let mut failing = false;
    let mut logged_kinds = HashSet::new();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                metrics.mqtt_connected.store(true, Ordering::Relaxed);
                tracing::info!("MQTT connected");
                backoff = FIRST;
                failing = false;
                connected.send_modify(|n| *n += 1);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(suffix) = p.topic.strip_prefix(&prefix).and_then(|t| t.strip_prefix('/')) else { continue };
                match parse_command(suffix, &p.payload) {
                    Ok(command) => {
                        if commands.try_send(EngineInput::Command(command)).is_err() {
                            metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(topic = suffix, "engine busy: command dropped");
                        }
                    }
                    Err(error) => {
                        metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                        let kind = (suffix.to_owned(), std::mem::discriminant(&error));
                        if logged_kinds.insert(kind) {
                            tracing::warn!(topic = suffix, %error, "input dropped (further ones of this kind are only counted)");
                        }
                        if matches!(error, InputError::UnknownTopic) {
                            tracing::debug!(topic = suffix, "unexpected topic");
                        }
                    }
                }
            }
            Ok(Event::Outgoing(Sent::Disconnect)) => break,
            Ok(_) => {}
            Err(error) => {
                metrics.mqtt_connected.store(false, Ordering::Relaxed);
                if failing {
                    tracing::debug!(%error, "MQTT still unreachable");
                } else {
                    tracing::warn!(%error, "MQTT connection lost; retrying with backoff");
                }
                failing = true;
                let delay = backoff + jitter(backoff / 4);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
                backoff = (backoff * 2).min(CAP);
            }
        }
    }
    metrics.mqtt_connected.store(false, Ordering::Relaxed);
    stop.cancel();
}

/// A pseudo-random duration below `max`, so that many boxes do not reconnect in step.
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let max_ms = max.as_millis().max(1) as u32;
    Duration::from_millis(u64::from(nanos.wrapping_mul(2_654_435_761) % max_ms))
}
