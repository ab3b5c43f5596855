//! A cap on the connections a listener holds at once, which a crowd of silent sockets cannot
//! fill: when a connection arrives at the cap, the oldest one with nothing in hand (no request
//! being handled, or no login yet) is closed to make room. A client that is being served keeps its
//! place; when every place is taken by one, the newcomer waits for a place to be freed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The places of one listener.
#[derive(Clone)]
pub struct ConnectionCap(Arc<Shared>);

struct Shared {
    most: usize,
    places: Mutex<Places>,
    freed: Notify,
}

#[derive(Default)]
struct Places {
    next_id: u64,
    /// By age: ids only grow.
    held: BTreeMap<u64, Place>,
}

struct Place {
    busy: bool,
    /// Told to close for a newcomer; its place is free once its ticket is dropped.
    closing: bool,
    close: CancellationToken,
}

/// A connection's place, given back when dropped.
pub struct Ticket {
    id: u64,
    shared: Arc<Shared>,
    close: CancellationToken,
}

impl ConnectionCap {
    pub fn new(most: usize) -> Self {
        Self(Arc::new(Shared { most, places: Mutex::new(Places::default()), freed: Notify::new() }))
    }

    /// A place for a new connection (accepted, so that only one waits here at a time): a free
    /// one, or the place of the oldest idle connection once it has closed (it is told to), or,
    /// when every connection is busy, the first place freed. No more than `most` connections are
    /// ever open at once.
    pub async fn admit(&self) -> Ticket {
        loop {
            let freed = self.0.freed.notified();
            if let Some(ticket) = self.try_admit() {
                return ticket;
            }
            freed.await;
        }
    }

    fn try_admit(&self) -> Option<Ticket> {
        let mut places = self.0.places.lock().unwrap_or_else(PoisonError::into_inner);
        if places.held.len() >= self.0.most {
            if !places.held.values().any(|place| place.closing) {
                let idle = places.held.values_mut().find(|place| !place.busy)?;
                idle.closing = true;
                idle.close.cancel();
            }
            return None;
        }
        let id = places.next_id;
        places.next_id += 1;
        let close = CancellationToken::new();
        places.held.insert(id, Place { busy: false, closing: false, close: close.clone() });
        Some(Ticket { id, shared: self.0.clone(), close })
    }

    /// How many places are held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.0.places.lock().unwrap_or_else(PoisonError::into_inner).held.len()
    }
}

impl Ticket {
    /// Marks the connection busy (it keeps its place) or idle (it may be closed for a newcomer).
    pub fn set_busy(&self, busy: bool) {
        let mut places = self.shared.places.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(place) = places.held.get_mut(&self.id) {
            place.busy = busy;
        }
        if !busy {
            self.shared.freed.notify_one();
        }
    }

    /// Resolves when the connection's place was given to a newcomer: close it.
    pub async fn evicted(&self) {
        self.close.cancelled().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let removed = self.shared.places.lock().unwrap_or_else(PoisonError::into_inner).held.remove(&self.id);
        if removed.is_some() {
            self.shared.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_newcomer_at_the_cap_takes_the_place_of_the_oldest_idle_connection_once_it_closed() {
        let cap = ConnectionCap::new(3);
        let oldest = cap.admit().await;
        let busy = cap.admit().await;
        busy.set_busy(true);
        let younger = cap.admit().await;
        let newcomer = tokio::spawn({
            let cap = cap.clone();
            async move { cap.admit().await }
        });
        tokio::time::timeout(Duration::from_secs(1), oldest.evicted()).await.expect("the oldest idle one goes");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!newcomer.is_finished(), "no more than 3 open at once: the newcomer waits for the close");
        drop(oldest);
        let newcomer = tokio::time::timeout(Duration::from_secs(1), newcomer).await.expect("admitted").expect("task");
        assert!(!busy.close.is_cancelled() && !younger.close.is_cancelled() && !newcomer.close.is_cancelled());
        assert_eq!(cap.held(), 3);
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_a_newcomer_waits_until_one_ends_or_goes_idle() {
        let cap = ConnectionCap::new(2);
        let first = cap.admit().await;
        let second = cap.admit().await;
        first.set_busy(true);
        second.set_busy(true);
        let newcomer = || {
            let cap = cap.clone();
            tokio::spawn(async move { cap.admit().await })
        };
        let waiting = newcomer();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no busy connection is closed for a newcomer");
        drop(first);
        let admitted = tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("admitted").expect("task");
        admitted.set_busy(true);
        assert!(!second.close.is_cancelled());

        let waiting = newcomer();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        second.set_busy(false);
        tokio::time::timeout(Duration::from_secs(1), second.evicted()).await.expect("the one gone idle gives way");
        drop(second);
        let _later = tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("admitted").expect("task");
        assert!(!admitted.close.is_cancelled());
        assert_eq!(cap.held(), 2);
    }
}
