//! The MQTT side. Producers put messages in a bounded outbox and never wait; one task
//! publishes them (`publisher`), another polls the connection (`link`), so neither can
//! deadlock the other. QoS 1 prompts are kept in sled until the broker acknowledges them
//! (`queue`); retained state is kept as its latest value and republished on every connection.

mod discovery;
mod link;
mod publisher;
mod queue;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MqttSettings;
use crate::engine::EngineInput;
use crate::metrics::Metrics;

pub use link::{jitter, read_secret, system_roots};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Availability,
    Product,
    Overlay,
    /// The current cue card, retained so that a tablet that (re)connects shows it at once.
    Cue,
    Prompt,
    Metrics,
    /// Answers for connectors to post in the viewers' chat.
    ChatOut,
    /// The chat sources' state and counts, retained.
    ChatStatus,
}

impl Topic {
    pub fn suffix(self) -> &'static str {
        match self {
            Topic::Availability => "availability",
            Topic::Product => "product",
            Topic::Overlay => "overlay",
            Topic::Cue => "cue",
            Topic::Prompt => "prompt",
            Topic::Metrics => "metrics",
            Topic::ChatOut => "chat/out",
            Topic::ChatStatus => "chat/status",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        [
            Topic::Availability,
            Topic::Product,
            Topic::Overlay,
            Topic::Cue,
            Topic::Prompt,
            Topic::Metrics,
            Topic::ChatOut,
            Topic::ChatStatus,
        ]
        .into_iter()
        .find(|t| t.suffix() == suffix)
    }

    fn qos(self) -> QoS {
        match self {
            Topic::Metrics => QoS::AtMostOnce,
            _ => QoS::AtLeastOnce,
        }
    }

    fn retained(self) -> bool {
        matches!(self, Topic::Availability | Topic::Product | Topic::Overlay | Topic::Cue | Topic::ChatStatus)
    }
}

pub fn topic(prefix: &str, topic: Topic) -> String {
    format!("{prefix}/{}", topic.suffix())
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
    }

    pub fn json<T: Serialize>(&self, topic: Topic, value: &T) {
        match serde_json::to_vec(value) {
            Ok(payload) => self.send(Outgoing { topic, payload }),
            Err(error) => tracing::error!(%error, topic = topic.suffix(), "payload not serialisable"),
        }
    }
}

/// Everything the link needs.
pub struct LinkConfig {
    pub settings: MqttSettings,
    pub device: String,
    pub prefix: String,
    pub client_id: String,
    /// Where undelivered QoS 1 messages are kept.
    pub queue: sled::Tree,
    /// With the embedded broker: its own loopback address and login (behind the gate).
    pub embedded: Option<(std::net::SocketAddr, (String, String))>,
}

/// Connects (in the background, retrying) and starts the publisher and poller tasks.
pub fn start(
    config: LinkConfig,
    outbox: mpsc::Receiver<Outgoing>,
    commands: mpsc::Sender<EngineInput>,
    chat: crate::chat::sources::SourceHandle,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let options = link::options(&config)?;
    let queue = queue::PersistentQueue::new(
        config.queue.clone(),
        config.settings.outbox_capacity,
        config.settings.outbox_max_bytes,
        config.settings.outbox_ttl,
    )?;
    if queue.len() > 0 {
        tracing::info!(
            waiting = queue.len(),
            bytes = queue.bytes(),
            "undelivered messages from before are queued for the broker"
        );
    }
    let discovery =
        config.settings.home_assistant.as_deref().map(|p| discovery::configs(p, &config.device, &config.prefix));
    let (client, eventloop) = AsyncClient::new(options, 16);
    let (link_events, link_rx) = mpsc::channel(64);
    let poll_stop = CancellationToken::new();
    let inputs = link::Inputs { prefix: config.prefix.clone(), commands, chat };
    tasks.spawn(link::poll(eventloop, inputs, link_events, metrics.clone(), poll_stop.clone()));
    let publisher = publisher::Publisher::new(client, config.prefix, queue, discovery.unwrap_or_default(), metrics);
    tasks.spawn(async move {
        publisher.run(outbox, link_rx, cancel).await;
        tokio::select! {
            _ = poll_stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => poll_stop.cancel(),
        }
    });
    Ok(())
}
