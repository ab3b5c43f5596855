//! Publishes one QoS 1 message at a time and waits for its acknowledgement before the next:
//! order is kept, a message leaves the persistent queue only once the broker has it, and a
//! message caught by a dropped connection is sent again on the next one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttc::{AsyncClient, QoS, SubscribeFilter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::link::LinkEvent;
use super::queue::{PersistentQueue, QueueError};
use super::{Outgoing, Topic, topic};
use crate::engine::now_ms;
use crate::metrics::Metrics;

/// The message the broker has not acknowledged yet.
#[derive(Debug)]
enum InFlight {
    Subscribe,
    Retained(Topic, Vec<u8>),
    Queued([u8; 8]),
    Discovery,
}

/// Most recent fire-and-forget messages kept while a publish is in flight.
const VOLATILE: usize = 8;

pub struct Publisher {
    client: AsyncClient,
    prefix: String,
    queue: PersistentQueue,
    /// Latest value of each retained topic and whether the broker has it.
    retained: BTreeMap<Topic, (Vec<u8>, bool)>,
    volatile: VecDeque<Outgoing>,
    discovery: Vec<(String, Vec<u8>)>,
    discovery_sent: usize,
    connected: bool,
    subscribed: bool,
    in_flight: Option<InFlight>,
    metrics: Arc<Metrics>,
}

impl Publisher {
    pub fn new(
        client: AsyncClient,
        prefix: String,
        queue: PersistentQueue,
        discovery: Vec<(String, Vec<u8>)>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let retained = BTreeMap::from([(Topic::Availability, (b"online".to_vec(), false))]);
        Self {
            client,
            prefix,
            queue,
            retained,
            volatile: VecDeque::new(),
            discovery,
            discovery_sent: 0,
            connected: false,
            subscribed: false,
            in_flight: None,
            metrics,
        }
    }

    pub async fn run(
        mut self,
        mut outbox: mpsc::Receiver<Outgoing>,
        mut link: mpsc::Receiver<LinkEvent>,
        cancel: CancellationToken,
    ) {
        self.report_depth();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                event = link.recv() => match event {
                    Some(event) => self.on_link(event),
                    None => break,
                },
                message = outbox.recv() => match message {
                    Some(message) => self.accept(message).await,
                    None => break,
                },
            }
            self.pump();
        }
        self.say_goodbye().await;
    }

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected => {
                self.connected = true;
                self.subscribed = false;
                self.discovery_sent = 0;
                self.in_flight = None;
                for (_, sent) in self.retained.values_mut() {
                    *sent = false;
                }
            }
            LinkEvent::Disconnected => {
                self.connected = false;
                self.in_flight = None;
                self.volatile.clear();
            }
            LinkEvent::SubAck => {
                if matches!(self.in_flight, Some(InFlight::Subscribe)) {
                    self.subscribed = true;
                    self.in_flight = None;
                }
            }
            LinkEvent::PubAck => match self.in_flight.take() {
                Some(InFlight::Retained(t, payload)) => {
                    if let Some((latest, sent)) = self.retained.get_mut(&t)
                        && *latest == payload
                    {
                        *sent = true;
                    }
                }
                Some(InFlight::Queued(key)) => {
                    if let Err(error) = self.queue.remove(&key) {
                        self.store_failed("delivered message could not be removed from the outbox", &error);
                    }
                    self.metrics.outbox_delivered.fetch_add(1, Ordering::Relaxed);
                    self.report_depth();
                }
                Some(InFlight::Discovery) => self.discovery_sent += 1,
                other => self.in_flight = other,
            },
        }
    }

    async fn accept(&mut self, message: Outgoing) {
        let t = message.topic;
        if t.retained() {
            self.retained.insert(t, (message.payload, false));
        } else if t.qos() == QoS::AtLeastOnce {
            match self.queue.push(t, &message.payload, now_ms()).await {
                Ok(()) => self.report_depth(),
                Err(error @ (QueueError::Full(_) | QueueError::FullOfBytes { .. })) => {
                    let dropped = self.metrics.outbox_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(%error, dropped, "outbox full: prompt dropped");
                    }
                }
                Err(error) => {
                    self.store_failed("prompt could not be queued", &error);
                    self.report_depth();
                }
            }
        } else if self.connected {
            if self.volatile.len() == VOLATILE {
                self.volatile.pop_front();
            }
            self.volatile.push_back(message);
        }
    }

    /// Sends what comes next if the connection is up and nothing is awaiting acknowledgement.
    fn pump(&mut self) {
        while self.connected && self.in_flight.is_none() {
            let Some(next) = self.next() else { return };
            let result = match &next {
                Send::Subscribe => self.client.try_subscribe_many([
                    SubscribeFilter::new(format!("{}/cmd/#", self.prefix), QoS::AtLeastOnce),
                    SubscribeFilter::new(format!("{}/chat/in", self.prefix), QoS::AtLeastOnce),
                ]),
                Send::Publish { topic, retain, qos, payload } => {
                    self.client.try_publish(topic.as_str(), *qos, *retain, payload.clone())
                }
            };
            if let Err(error) = result {
                tracing::warn!(%error, "the MQTT client refused a request; retrying on the next event");
                self.in_flight = None;
                return;
            }
        }
    }

    /// Picks the next request and records what it waits for.
    fn next(&mut self) -> Option<Send> {
        if !self.subscribed {
            self.in_flight = Some(InFlight::Subscribe);
            return Some(Send::Subscribe);
        }
        if let Some((discovery_topic, payload)) = self.discovery.get(self.discovery_sent) {
            self.in_flight = Some(InFlight::Discovery);
            return Some(Send::Publish {
                topic: discovery_topic.clone(),
                retain: true,
                qos: QoS::AtLeastOnce,
                payload: payload.clone(),
            });
        }
        if let Some((t, (payload, _))) = self.retained.iter().find(|(_, (_, sent))| !sent) {
            let (t, payload) = (*t, payload.clone());
            self.in_flight = Some(InFlight::Retained(t, payload.clone()));
            return Some(Send::Publish { topic: topic(&self.prefix, t), retain: true, qos: QoS::AtLeastOnce, payload });
        }
        match self.queue.front(now_ms()) {
            Ok((queued, expired)) => {
                if expired > 0 {
                    self.metrics.outbox_expired.fetch_add(expired, Ordering::Relaxed);
                    tracing::warn!(expired, "undelivered prompts expired and were dropped");
                    self.report_depth();
                }
                if let Some(m) = queued {
                    self.in_flight = Some(InFlight::Queued(m.key));
                    return Some(Send::Publish {
                        topic: topic(&self.prefix, m.topic),
                        retain: false,
                        qos: QoS::AtLeastOnce,
                        payload: m.payload,
                    });
                }
            }
            Err(error) => self.store_failed("outbox unreadable", &error),
        }
        let m = self.volatile.pop_front()?;
        Some(Send::Publish {
            topic: topic(&self.prefix, m.topic),
            retain: false,
            qos: QoS::AtMostOnce,
            payload: m.payload,
        })
    }

    /// A write or read of the outbox's store failed (a full disk, an I/O error): counted, and
    /// logged at the 1st, 2nd, 4th, 8th... failure; the daemon runs on.
    fn store_failed(&self, what: &str, error: &QueueError) {
        let failures = self.metrics.outbox_store_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if failures.is_power_of_two() {
            tracing::error!(%error, failures, "{what}");
        }
    }

    fn report_depth(&self) {
        self.metrics.outbox_depth.store(self.queue.len() as u64, Ordering::Relaxed);
    }

    async fn say_goodbye(&mut self) {
        let goodbye = async {
            if self.connected {
                let _ = self
                    .client
                    .publish(topic(&self.prefix, Topic::Availability), QoS::AtLeastOnce, true, "offline")
                    .await;
            }
            let _ = self.client.disconnect().await;
        };
        if tokio::time::timeout(Duration::from_secs(1), goodbye).await.is_err() {
            tracing::warn!("could not say offline to the broker in time");
        }
    }
}

enum Send {
    Subscribe,
    Publish { topic: String, retain: bool, qos: QoS, payload: Vec<u8> },
}
