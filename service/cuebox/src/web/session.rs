//! Admin sessions: a sign-in with the admin token opens a session named by a random id (the
//! cookie holds the id, never the token), which expires and can be closed; failed sign-ins are
//! throttled per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Most sessions open at once; signing in beyond closes the oldest.
const MAX_SESSIONS: usize = 64;
/// The wait after a client's first failed sign-in; it doubles with each further failure.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Most client addresses whose failures are remembered.
const MAX_CLIENTS: usize = 1024;

#[derive(Default)]
pub struct Sessions {
    /// The sha256 of each session id, with when it expires.
    open: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    next_try: Instant,
}

/// Whether a client may try to sign in now.
pub enum Attempt {
    Allowed,
    /// Too soon after a failed sign-in: wait this long.
    Wait(Duration),
}

impl Sessions {
    /// Opens a session; its id (for the cookie).
    pub fn open(&self) -> std::io::Result<String> {
        let id = crate::secret::random_hex(32)?;
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, expires| *expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, expires)| **expires).map(|(key, _)| *key)
        {
            open.remove(&oldest);
        }
        open.insert(Sha256::digest(id.as_bytes()).into(), now + SESSION_LIFETIME);
        Ok(id)
    }

    /// Whether `id` names an open session.
    pub fn is_open(&self, id: &str) -> bool {
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&key).is_some_and(|expires| *expires > Instant::now())
    }

    pub fn close(&self, id: &str) {
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
    }

    pub fn attempt(&self, client: IpAddr) -> Attempt {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&client) {
            Some(f) if f.next_try > Instant::now() => Attempt::Wait(f.next_try - Instant::now()),
            _ => Attempt::Allowed,
        }
    }

    /// Notes a failed sign-in: the client waits before its next try, longer each time.
    pub fn failed(&self, client: IpAddr) -> Duration {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_CLIENTS && !failures.contains_key(&client) {
            failures.retain(|_, f| f.next_try > now);
            if failures.len() >= MAX_CLIENTS {
                failures.clear();
            }
        }
        let entry = failures.entry(client).or_insert(Failures { count: 0, next_try: now });
        entry.count = entry.count.saturating_add(1);
        let wait = FIRST_WAIT.saturating_mul(1 << entry.count.saturating_sub(1).min(6)).min(LONGEST_WAIT);
        entry.next_try = now + wait;
        wait
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_open_until_closed() {
        let sessions = Sessions::default();
        let (a, b) = (sessions.open().unwrap(), sessions.open().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(sessions.is_open(&a) && sessions.is_open(&b));
        sessions.close(&a);
        assert!(!sessions.is_open(&a) && sessions.is_open(&b));
        assert!(!sessions.is_open("not a session"));
    }

    #[test]
    fn failed_sign_ins_wait_longer_each_time_per_client() {
        let sessions = Sessions::default();
        let (client, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert_eq!(sessions.failed(client), Duration::from_secs(1));
        assert_eq!(sessions.failed(client), Duration::from_secs(2));
        assert_eq!(sessions.failed(client), Duration::from_secs(4));
        assert!(matches!(sessions.attempt(client), Attempt::Wait(_)));
        assert!(matches!(sessions.attempt(other), Attempt::Allowed));
        for _ in 0..20 {
            sessions.failed(client);
        }
        assert_eq!(sessions.failed(client), LONGEST_WAIT);
        sessions.succeeded(client);
        assert!(matches!(sessions.attempt(client), Attempt::Allowed));
    }

    #[test]
    fn the_oldest_session_gives_way_beyond_the_limit() {
        let sessions = Sessions::default();
        let first = sessions.open().unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open().unwrap();
        }
        assert!(!sessions.is_open(&first));
    }
}
