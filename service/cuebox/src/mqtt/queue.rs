//! The persistent part of the outbox: QoS 1 prompts waiting for the broker's acknowledgement,
//! in order, each with an expiry, surviving a broker outage and a daemon restart. Bounded by
//! count and by bytes; both are counted once at open and kept up to date, never scanned again.

use std::time::Duration;

use super::Topic;

pub struct PersistentQueue {
    tree: sled::Tree,
    next_seq: u64,
    capacity: usize,
    max_bytes: u64,
    ttl: Duration,
    /// Messages held, and their bytes (keys and values).
    len: usize,
    bytes: u64,
    /// Every message up to this sequence number was delivered or expired, even if the store
    /// could not remove it (a full disk): it is not sent again while the daemon runs.
    done_through: Option<u64>,
}

/// A message waiting for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    pub key: [u8; 8],
    pub topic: Topic,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("outbox store: {0}")]
    Store(#[from] sled::Error),
    #[error("the outbox holds {0} messages, its capacity")]
    Full(usize),
    #[error("the outbox holds {held} bytes: {size} more would pass its bound of {max_bytes}")]
    FullOfBytes { held: u64, size: u64, max_bytes: u64 },
}

impl PersistentQueue {
    pub fn new(tree: sled::Tree, capacity: usize, max_bytes: u64, ttl: Duration) -> Result<Self, QueueError> {
        let (mut len, mut bytes, mut next_seq) = (0, 0, 0);
        for item in tree.iter() {
            let (key, value) = item?;
            len += 1;
            bytes += entry_bytes(&key, &value);
            next_seq = seq(&key) + 1;
        }
        Ok(Self { tree, next_seq, capacity, max_bytes, ttl, len, bytes, done_through: None })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends a message, durable once the returned future's flush completes.
    pub async fn push(&mut self, topic: Topic, payload: &[u8], now_ms: u64) -> Result<(), QueueError> {
        if self.len >= self.capacity {
            return Err(QueueError::Full(self.capacity));
        }
        let expires = now_ms + self.ttl.as_millis() as u64;
        let suffix = topic.suffix().as_bytes();
        let mut value = Vec::with_capacity(9 + suffix.len() + payload.len());
        value.extend_from_slice(&expires.to_be_bytes());
        value.push(suffix.len() as u8);
        value.extend_from_slice(suffix);
        value.extend_from_slice(payload);
        let key = self.next_seq.to_be_bytes();
        let size = entry_bytes(&key, &value);
        if self.bytes + size > self.max_bytes {
            return Err(QueueError::FullOfBytes { held: self.bytes, size, max_bytes: self.max_bytes });
        }
        self.tree.insert(key, value)?;
        self.next_seq += 1;
        self.len += 1;
        self.bytes += size;
        self.tree.flush_async().await?;
        Ok(())
    }

    /// The oldest message still within its time to live; expired ones on the way are removed
    /// and their number returned.
    pub fn front(&mut self, now_ms: u64) -> Result<(Option<Queued>, u64), QueueError> {
        let mut expired = 0;
        let tree = self.tree.clone();
        let first = self.done_through.map_or(0, |done| done + 1);
        for item in tree.range(first.to_be_bytes()..) {
            let (key, value) = item?;
            match decode(&key, &value) {
                Some((expires, queued)) if expires > now_ms => return Ok((Some(queued), expired)),
                Some(_) => expired += 1,
                None => tracing::warn!("unreadable outbox entry removed"),
            }
            self.remove(&key)?;
        }
        Ok((None, expired))
    }

    /// Removes a message delivered or expired; should the store fail to, it is still never
    /// the front again.
    pub fn remove(&mut self, key: &[u8]) -> Result<(), QueueError> {
        self.done_through = self.done_through.max(Some(seq(key)));
        if let Some(value) = self.tree.remove(key)? {
            self.len = self.len.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(entry_bytes(key, &value));
        }
        Ok(())
    }
}

/// What an entry counts towards `mqtt.outbox_max_bytes`.
fn entry_bytes(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

fn seq(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn decode(key: &[u8], value: &[u8]) -> Option<(u64, Queued)> {
    let key: [u8; 8] = key.try_into().ok()?;
    let expires = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let length = usize::from(*value.get(8)?);
    let suffix = std::str::from_utf8(value.get(9..9 + length)?).ok()?;
    let topic = Topic::from_suffix(suffix)?;
    Some((expires, Queued { key, topic, payload: value.get(9 + length..)?.to_vec() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &std::path::Path, capacity: usize) -> PersistentQueue {
        queue_of_bytes(dir, capacity, 1 << 20)
    }

    fn queue_of_bytes(dir: &std::path::Path, capacity: usize, max_bytes: u64) -> PersistentQueue {
        let db = sled::Config::new().path(dir).open().unwrap();
        PersistentQueue::new(db.open_tree("outbox").unwrap(), capacity, max_bytes, Duration::from_secs(10)).unwrap()
    }

    #[tokio::test]
    async fn messages_come_out_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = queue(dir.path(), 10);
            q.push(Topic::Prompt, b"one", 0).await.unwrap();
            q.push(Topic::Prompt, b"two", 0).await.unwrap();
        }
        let mut q = queue(dir.path(), 10);
        q.push(Topic::Prompt, b"three", 0).await.unwrap();
        let mut seen = Vec::new();
        while let (Some(m), _) = q.front(0).unwrap() {
            seen.push(String::from_utf8(m.payload.clone()).unwrap());
            q.remove(&m.key).unwrap();
        }
        assert_eq!(seen, vec!["one", "two", "three"]);
    }

    #[tokio::test]
    async fn expired_messages_are_dropped_and_counted_and_capacity_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 2);
        q.push(Topic::Prompt, b"old", 0).await.unwrap();
        q.push(Topic::Prompt, b"new", 5_000).await.unwrap();
        assert!(matches!(q.push(Topic::Prompt, b"too many", 5_000).await, Err(QueueError::Full(2))));
        let (front, expired) = q.front(12_000).unwrap();
        assert_eq!((front.map(|m| m.payload), expired), (Some(b"new".to_vec()), 1));
        assert_eq!(q.len(), 1);
    }

    /// Each entry is its 8-byte key, the expiry (8), the topic's length (1) and name, the payload.
    const PROMPT_ENTRY: u64 = 8 + 8 + 1 + 6;

    #[tokio::test]
    async fn the_byte_bound_refuses_a_push_that_would_pass_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue_of_bytes(dir.path(), 100, 3 * PROMPT_ENTRY + 200);
        q.push(Topic::Prompt, &[b'a'; 100], 0).await.unwrap();
        q.push(Topic::Prompt, &[b'b'; 60], 0).await.unwrap();
        let refused = q.push(Topic::Prompt, &[b'c'; 41], 0).await;
        assert!(
            matches!(refused, Err(QueueError::FullOfBytes { held, size, .. }) if held == 2 * PROMPT_ENTRY + 160 && size == PROMPT_ENTRY + 41),
            "{refused:?}"
        );
        q.push(Topic::Prompt, &[b'c'; 40], 0).await.unwrap();
        assert_eq!((q.len(), q.bytes()), (3, 3 * PROMPT_ENTRY + 200));
        let (front, _) = q.front(0).unwrap();
        q.remove(&front.unwrap().key).unwrap();
        assert_eq!((q.len(), q.bytes()), (2, 2 * PROMPT_ENTRY + 100));
        q.push(Topic::Prompt, &[b'd'; 100], 0).await.unwrap();
    }

    #[tokio::test]
    async fn counts_and_bytes_survive_reopening_and_expiry_is_subtracted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = queue(dir.path(), 10);
            q.push(Topic::Prompt, b"old", 0).await.unwrap();
            q.push(Topic::ChatOut, b"newer", 8_000).await.unwrap();
        }
        let mut q = queue(dir.path(), 10);
        let chat_out = 8 + 8 + 1 + "chat/out".len() as u64 + 5;
        assert_eq!((q.len(), q.bytes()), (2, PROMPT_ENTRY + 3 + chat_out));
        let (front, expired) = q.front(12_000).unwrap();
        assert_eq!((front.map(|m| m.payload), expired), (Some(b"newer".to_vec()), 1));
        assert_eq!((q.len(), q.bytes()), (1, chat_out));
    }

    #[tokio::test]
    async fn a_message_removed_is_never_the_front_again_even_if_the_store_kept_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 10);
        q.push(Topic::Prompt, b"one", 0).await.unwrap();
        q.push(Topic::Prompt, b"two", 0).await.unwrap();
        let (first, _) = q.front(0).unwrap();
        let first = first.unwrap();
        let stored = q.tree.get(first.key).unwrap().unwrap();
        q.remove(&first.key).unwrap();
        // What a removal the store refused (a full disk) leaves: the entry still there.
        q.tree.insert(first.key, stored).unwrap();
        let (front, _) = q.front(0).unwrap();
        assert_eq!(front.map(|m| m.payload), Some(b"two".to_vec()));
    }
}
