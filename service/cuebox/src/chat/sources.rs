//! Every place viewer messages come from (a connector, the webhook, MQTT `chat/in`), with its
//! state and counts for `/metrics`, the admin page and the retained `chat/status`, and where its
//! messages enter: rate-limited per source, so that a flood from one never starves another.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::json;
use tokio::sync::Notify;

use crate::engine::now_ms;
use crate::metrics::Metrics;

/// Most distinct problem kinds logged per source; more are only counted.
const LOGGED_KINDS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Waits for messages to be sent to it (MQTT `chat/in`, the webhook).
    Listening,
    Connecting,
    Connected,
    /// Lost or refused; the error says why, and the connector tries again after a wait.
    Retrying {
        error: String,
    },
}

impl SourceState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Listening => "listening",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Retrying { .. } => "retrying",
        }
    }
}

/// A viewer's message as every source hands it on.
#[derive(Clone)]
pub struct ViewerMessage {
    /// Where the viewer wrote it (`douyin`, `tiktok`, `youtube`, ...).
    pub platform: String,
    pub user: Option<String>,
    pub text: String,
    /// When it was written (Unix ms): as the source says, else when it arrived.
    pub ts: u64,
    /// The platform's id of the message, when the source gives one.
    pub id: Option<String>,
    pub received: Instant,
    pub source: Arc<SourceStats>,
}

/// One source's state and counts. Every message read counts as received, then as exactly one
/// of taken (queued for answering), dropped (over the rate or the queue full), rejected
/// (malformed, oversized, unauthorised) or ignored (not a chat message: likes, gifts, entries).
pub struct SourceStats {
    pub name: String,
    pub kind: &'static str,
    state: Mutex<(SourceState, u64)>,
    pub received: AtomicU64,
    pub taken: AtomicU64,
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    pub ignored: AtomicU64,
    /// Messages shown masked (phone numbers, links, banned words).
    pub masked: AtomicU64,
    pub reconnects: AtomicU64,
    logged: Mutex<HashSet<String>>,
    changed: Arc<Notify>,
}

impl SourceStats {
    pub fn state(&self) -> SourceState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0.clone()
    }

    pub fn set_state(&self, state: SourceState) {
        let mut current = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != state {
            *current = (state, now_ms());
            drop(current);
            self.changed.notify_one();
        }
    }

    /// Counts a message refused for `kind` (malformed JSON, oversized...); the first of each kind
    /// is logged.
    pub fn reject(&self, kind: &str, detail: impl fmt::Display) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        if self.first_of(kind) {
            tracing::warn!(source = %self.name, kind, %detail, "chat message refused (more of this kind are only counted)");
        }
    }

    /// Counts a message that is not a chat message (an event of type `kind`); the first of each
    /// type is logged.
    pub fn ignore(&self, kind: &str) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
        if self.first_of(kind) {
            tracing::info!(source = %self.name, kind, "not a chat message: ignored (more of this kind are only counted)");
        }
    }

    /// Counts a taken message as ignored after all: the chat thread found it is not a question
    /// (an answer a connector relayed back).
    pub fn taken_but_ignored(&self, kind: &str) {
        self.taken.fetch_sub(1, Ordering::Relaxed);
        self.ignore(kind);
    }

    /// Whether `kind` is met for the first time, so that each kind of problem is logged once.
    fn first_of(&self, kind: &str) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        logged.len() < LOGGED_KINDS && logged.insert(kind.to_owned())
    }

    /// The source as `chat/status` and the admin page show it.
    pub fn snapshot(&self) -> serde_json::Value {
        let (state, since) = self.state.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let error = match &state {
            SourceState::Retrying { error } => Some(error.clone()),
            _ => None,
        };
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "name": self.name,
            "kind": self.kind,
            "state": state.as_str(),
            "error": error,
            "since": since,
            "received": count(&self.received),
            "taken": count(&self.taken),
            "dropped": count(&self.dropped),
            "rejected": count(&self.rejected),
            "ignored": count(&self.ignored),
            "masked": count(&self.masked),
            "reconnects": count(&self.reconnects),
        })
    }
}

/// A token bucket: `rate` a second, bursts of twice that.
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// What became of an offered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    Taken,
    Dropped,
}

/// Where one source hands its messages in.
pub struct SourceHandle {
    pub stats: Arc<SourceStats>,
    bucket: Mutex<Bucket>,
    rate: f64,
    queue: SyncSender<ViewerMessage>,
    metrics: Arc<Metrics>,
}

impl SourceHandle {
    /// Counts a message read from the source (before it is checked).
    pub fn received(&self) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues a well-formed viewer message for answering, unless it is over the source's rate
    /// or the queue is full (dropped and counted). Never waits.
    pub fn offer(&self, message: ChatInput, received: Instant) -> Offered {
        let over_rate = {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            bucket.tokens =
                (bucket.tokens + now.duration_since(bucket.refilled).as_secs_f64() * self.rate).min(self.rate * 2.0);
            bucket.refilled = now;
            let over = bucket.tokens < 1.0;
            if !over {
                bucket.tokens -= 1.0;
            }
            over
        };
        let message = ViewerMessage {
            platform: message.platform,
            user: message.user,
            text: message.text,
            ts: message.ts.unwrap_or_else(now_ms),
            id: message.id,
            received,
            source: self.stats.clone(),
        };
        let queued = !over_rate && self.queue.try_send(message).is_ok();
        if queued {
            self.stats.taken.fetch_add(1, Ordering::Relaxed);
            Offered::Taken
        } else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let dropped = self.metrics.chat_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(source = %self.stats.name, dropped, "viewer messages over the rate or the queue: dropped and counted");
            }
            Offered::Dropped
        }
    }
}

/// A viewer message as a source read it, before it is queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatInput {
    pub platform: String,
    pub user: Option<String>,
    pub text: String,
    pub ts: Option<u64>,
    pub id: Option<String>,
}

/// Every source of the daemon, in a fixed order.
pub struct ChatSources {
    sources: Mutex<Vec<Arc<SourceStats>>>,
    changed: Arc<Notify>,
    rate: f64,
    queue: SyncSender<ViewerMessage>,
    metrics: Arc<Metrics>,
}

impl ChatSources {
    /// Sources whose messages go to `queue`, each at most `rate` a second.
    pub fn new(rate: f64, queue: SyncSender<ViewerMessage>, metrics: Arc<Metrics>) -> Self {
        Self { sources: Mutex::new(Vec::new()), changed: Arc::new(Notify::new()), rate, queue, metrics }
    }

    /// Adds a source in `state`.
    pub fn add(&self, name: &str, kind: &'static str, state: SourceState) -> SourceHandle {
        let stats = Arc::new(SourceStats {
            name: name.to_owned(),
            kind,
            state: Mutex::new((state, now_ms())),
            received: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            masked: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            logged: Mutex::new(HashSet::new()),
            changed: self.changed.clone(),
        });
        self.sources.lock().unwrap_or_else(PoisonError::into_inner).push(stats.clone());
        SourceHandle {
            stats,
            bucket: Mutex::new(Bucket { tokens: self.rate * 2.0, refilled: Instant::now() }),
            rate: self.rate,
            queue: self.queue.clone(),
            metrics: self.metrics.clone(),
        }
    }

    pub fn all(&self) -> Vec<Arc<SourceStats>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every source as `chat/status` and the admin page show them.
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        self.all().iter().map(|s| s.snapshot()).collect()
    }

    /// Wakes when a source changes state.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }
}

/// Publishes the retained `chat/status` when a source changes state, and its counts every
/// `interval` when they changed.
pub async fn publish_status(
    sources: Arc<ChatSources>,
    outbox: crate::mqtt::Outbox,
    interval: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let changed = sources.changed();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Vec::new();
    loop {
        let snapshot = sources.snapshot();
        if snapshot != last {
            outbox.json(crate::mqtt::Topic::ChatStatus, &json!({ "ts": now_ms(), "sources": snapshot }));
            last = snapshot;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = changed.notified() => {}
            _ = ticker.tick() => {}
        }
    }
}

/// A Prometheus series of every source: name, type, help and the value of one source.
type Series = (&'static str, &'static str, &'static str, fn(&SourceStats) -> f64);

/// The sources' counts and state in Prometheus text, one series per source.
pub fn render_metrics(sources: &ChatSources) -> String {
    let all = sources.all();
    let mut out = String::new();
    let series: [Series; 8] = [
        (
            "chat_source_connected",
            "gauge",
            "1 while a chat source is connected (or listening, for chat/in and the webhook).",
            |s| f64::from(u8::from(matches!(s.state(), SourceState::Connected | SourceState::Listening))),
        ),
        ("chat_source_received_total", "counter", "Messages read from a chat source.", |s| {
            s.received.load(Ordering::Relaxed) as f64
        }),
        ("chat_source_taken_total", "counter", "Messages of a chat source queued for answering.", |s| {
            s.taken.load(Ordering::Relaxed) as f64
        }),
        (
            "chat_source_dropped_total",
            "counter",
            "Messages of a chat source dropped over its rate or a full queue.",
            |s| s.dropped.load(Ordering::Relaxed) as f64,
        ),
        (
            "chat_source_rejected_total",
            "counter",
            "Messages of a chat source refused as malformed, oversized or unauthorised.",
            |s| s.rejected.load(Ordering::Relaxed) as f64,
        ),
        (
            "chat_source_ignored_total",
            "counter",
            "Frames of a chat source that are not chat (likes, entries, gifts...).",
            |s| s.ignored.load(Ordering::Relaxed) as f64,
        ),
        ("chat_source_masked_total", "counter", "Messages of a chat source shown masked.", |s| {
            s.masked.load(Ordering::Relaxed) as f64
        }),
        (
            "chat_source_reconnects_total",
            "counter",
            "Times a chat connector connected again after losing its server.",
            |s| s.reconnects.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, kind, help, value) in series {
        out += &format!("# HELP cuebox_{name} {help}\n# TYPE cuebox_{name} {kind}\n");
        for source in &all {
            out += &format!("cuebox_{name}{{source=\"{}\",kind=\"{}\"}} {}\n", source.name, source.kind, value(source));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    fn input(text: &str) -> ChatInput {
        ChatInput { platform: "test".into(), user: None, text: text.into(), ts: None, id: None }
    }

    #[test]
    fn each_source_has_its_own_rate_and_a_full_queue_drops() {
        let (tx, rx) = sync_channel(100);
        let sources = ChatSources::new(5.0, tx, Arc::new(Metrics::new()));
        let (flood, quiet) = (
            sources.add("flood", "test", SourceState::Listening),
            sources.add("quiet", "test", SourceState::Listening),
        );
        let offered: Vec<Offered> = (0..50).map(|i| flood.offer(input(&format!("m{i}")), Instant::now())).collect();
        let taken = offered.iter().filter(|o| **o == Offered::Taken).count();
        assert!((10..=11).contains(&taken), "a burst of twice the rate is taken: {taken}");
        assert_eq!(quiet.offer(input("q"), Instant::now()), Offered::Taken, "another source is not starved");
        assert_eq!(flood.stats.dropped.load(Ordering::Relaxed), 50 - taken as u64);
        assert_eq!(rx.try_iter().count(), taken + 1);

        let (tx, _rx) = sync_channel(1);
        let sources = ChatSources::new(100.0, tx, Arc::new(Metrics::new()));
        let source = sources.add("s", "test", SourceState::Listening);
        assert_eq!(source.offer(input("a"), Instant::now()), Offered::Taken);
        assert_eq!(source.offer(input("b"), Instant::now()), Offered::Dropped, "the queue is full");
    }

    #[test]
    fn problems_are_counted_every_time_and_logged_once_per_kind() {
        let (tx, _rx) = sync_channel(1);
        let sources = ChatSources::new(1.0, tx, Arc::new(Metrics::new()));
        let source = sources.add("s", "test", SourceState::Connecting);
        assert!(source.stats.first_of("bad json"));
        assert!(!source.stats.first_of("bad json"));
        source.stats.reject("oversized", "too big");
        source.stats.reject("oversized", "too big");
        source.stats.ignore("room_like");
        let snapshot = source.stats.snapshot();
        assert_eq!((snapshot["rejected"].as_u64(), snapshot["ignored"].as_u64()), (Some(2), Some(1)));
        source.stats.set_state(SourceState::Retrying { error: "refused".into() });
        let snapshot = sources.snapshot().remove(0);
        assert_eq!((snapshot["state"].as_str(), snapshot["error"].as_str()), (Some("retrying"), Some("refused")));
    }
}
