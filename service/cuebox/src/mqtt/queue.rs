//! The persistent part of the outbox: QoS 1 prompts waiting for the broker's acknowledgement,
//! in order, each with an expiry, surviving a broker outage and a daemon restart.

use std::time::Duration;

use super::Topic;

pub struct PersistentQueue {
    tree: sled::Tree,
    next_seq: u64,
    capacity: usize,
    ttl: Duration,
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
}

impl PersistentQueue {
    pub fn new(tree: sled::Tree, capacity: usize, ttl: Duration) -> Result<Self, QueueError> {
        let next_seq = match tree.last()? {
            Some((key, _)) => seq(&key) + 1,
            None => 0,
        };
        Ok(Self { tree, next_seq, capacity, ttl })
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Appends a message, durable once the returned future's flush completes.
    pub async fn push(&mut self, topic: Topic, payload: &[u8], now_ms: u64) -> Result<(), QueueError> {
        if self.tree.len() >= self.capacity {
            return Err(QueueError::Full(self.capacity));
        }
        let expires = now_ms + self.ttl.as_millis() as u64;
        let suffix = topic.suffix().as_bytes();
        let mut value = Vec::with_capacity(9 + suffix.len() + payload.len());
        value.extend_from_slice(&expires.to_be_bytes());
        value.push(suffix.len() as u8);
        value.extend_from_slice(suffix);
        value.extend_from_slice(payload);
        self.tree.insert(self.next_seq.to_be_bytes(), value)?;
        self.next_seq += 1;
        self.tree.flush_async().await?;
        Ok(())
    }

    /// The oldest message still within its time to live; expired ones on the way are removed
    /// and their number returned.
    pub fn front(&self, now_ms: u64) -> Result<(Option<Queued>, u64), QueueError> {
        let mut expired = 0;
        for item in self.tree.iter() {
            let (key, value) = item?;
            match decode(&key, &value) {
                Some((expires, queued)) if expires > now_ms => return Ok((Some(queued), expired)),
                Some(_) => expired += 1,
                None => tracing::warn!("unreadable outbox entry removed"),
            }
            self.tree.remove(key)?;
        }
        Ok((None, expired))
    }

    pub fn remove(&self, key: [u8; 8]) -> Result<(), QueueError> {
        self.tree.remove(key)?;
        Ok(())
    }
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
        let db = sled::Config::new().path(dir).open().unwrap();
        PersistentQueue::new(db.open_tree("outbox").unwrap(), capacity, Duration::from_secs(10)).unwrap()
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
            q.remove(m.key).unwrap();
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
}
