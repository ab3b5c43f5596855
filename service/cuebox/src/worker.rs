//! Threads that run until stopped, supervised: a body that panics or fails is started again
//! after a doubling wait (100 ms to 5 s), each restart counted; the state of every worker is
//! kept in `Workers` for `/healthz` and `/metrics`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The first wait before a failed body is started again; it doubles up to `RESTART_MAX`.
const RESTART_FIRST: Duration = Duration::from_millis(100);
const RESTART_MAX: Duration = Duration::from_secs(5);
/// A body that ran this long before failing starts again after the first wait.
const STEADY: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// Failed (panicked, or returned an error), waiting to be started again.
    Restarting,
    /// Its body returned on its own: its work is over (e.g. the panel with no part left).
    Ended,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Restarting => "restarting",
            WorkerState::Ended => "ended",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => WorkerState::Restarting,
            2 => WorkerState::Ended,
            _ => WorkerState::Running,
        }
    }
}

/// One worker's state and restart count, shared with its supervising thread.
#[derive(Debug)]
pub struct WorkerStatus {
    name: String,
    state: AtomicU8,
    restarts: AtomicU64,
}

impl WorkerStatus {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    fn set(&self, state: WorkerState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }
}

/// Every worker the daemon started, in the order they were started.
#[derive(Debug, Default)]
pub struct Workers(Mutex<Vec<Arc<WorkerStatus>>>);

impl Workers {
    fn register(&self, name: &str) -> Arc<WorkerStatus> {
        let status =
            Arc::new(WorkerStatus { name: name.to_owned(), state: AtomicU8::new(0), restarts: AtomicU64::new(0) });
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(status.clone());
        status
    }

    pub fn all(&self) -> Vec<Arc<WorkerStatus>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A supervised thread that runs until stopped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Runs `body` on a thread named `name` until its stop flag is set. A body that panics or
    /// returns an error before it is asked to stop is started again after a wait; one that
    /// returns `Ok` is over.
    pub fn spawn(
        name: &str,
        workers: &Workers,
        mut body: impl FnMut(&Arc<AtomicBool>) -> anyhow::Result<()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = workers.register(name);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn({
                let stop = stop.clone();
                move || supervise(&status, &stop, &mut body)
            })
            .with_context(|| format!("starting the {name} thread"))?;
        Ok(Self { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        if self.thread.join().is_err() {
            tracing::error!("a worker's supervisor panicked");
        }
    }
}

fn supervise(
    status: &WorkerStatus,
    stop: &Arc<AtomicBool>,
    body: &mut (impl FnMut(&Arc<AtomicBool>) -> anyhow::Result<()> + Send),
) {
    let mut wait = RESTART_FIRST;
    while !stop.load(Ordering::Relaxed) {
        status.set(WorkerState::Running);
        let started = Instant::now();
        let failure = match std::panic::catch_unwind(AssertUnwindSafe(|| body(stop))) {
            Ok(Ok(())) if stop.load(Ordering::Relaxed) => return,
            Ok(Ok(())) => {
                status.set(WorkerState::Ended);
                tracing::info!(worker = %status.name, "worker ended: its work is over");
                return;
            }
            Ok(Err(error)) => format!("{error:#}"),
            Err(panic) => panic_message(panic.as_ref()),
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if started.elapsed() >= STEADY {
            wait = RESTART_FIRST;
        }
        status.set(WorkerState::Restarting);
        let restarts = status.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(worker = %status.name, %failure, restarts, wait_ms = wait.as_millis() as u64, "worker failed: restarting it");
        rest(stop, wait);
        wait = (wait * 2).min(RESTART_MAX);
    }
}

/// Waits `wait`, or until `stop` (`Worker::stop` wakes the thread).
fn rest(stop: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::park_timeout(left);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text =
        panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned());
    format!("panicked: {}", text.unwrap_or_else(|| "(no message)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_panics_is_restarted_and_counted_until_it_runs() {
        let workers = Workers::default();
        let (running, ran) = std::sync::mpsc::sync_channel(1);
        let mut calls = 0;
        let worker = Worker::spawn("flaky", &workers, move |stop| {
            calls += 1;
            if calls <= 3 {
                panic!("failure {calls}");
            }
            let _ = running.try_send(calls);
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_millis(50));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(ran.recv_timeout(Duration::from_secs(10)), Ok(4), "started a fourth time");
        let status = workers.all().pop().unwrap();
        assert_eq!((status.name(), status.state(), status.restarts()), ("flaky", WorkerState::Running, 3));
        worker.stop();
        assert_eq!(status.state(), WorkerState::Running, "a stop is not a failure");
        assert_eq!(status.restarts(), 3);
    }

    #[test]
    fn an_error_is_restarted_like_a_panic_and_a_plain_return_ends_the_worker() {
        let workers = Workers::default();
        let (returned, done) = std::sync::mpsc::sync_channel(1);
        let mut calls = 0;
        let worker = Worker::spawn("once", &workers, move |_| {
            calls += 1;
            if calls == 1 {
                anyhow::bail!("listeners closed");
            }
            let _ = returned.try_send(());
            Ok(())
        })
        .unwrap();
        assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(()));
        worker.thread.join().unwrap();
        let status = workers.all().pop().unwrap();
        assert_eq!((status.state(), status.restarts()), (WorkerState::Ended, 1));
    }

    #[test]
    fn a_stop_during_the_wait_is_not_delayed_by_it() {
        let workers = Workers::default();
        let worker = Worker::spawn("always-failing", &workers, |_| anyhow::bail!("no")).unwrap();
        let status = workers.all().pop().unwrap();
        while status.restarts() < 4 {
            std::thread::park_timeout(Duration::from_millis(10));
        }
        let asked = Instant::now();
        worker.stop();
        assert!(asked.elapsed() < Duration::from_millis(500), "stopped in {:?}", asked.elapsed());
    }
}
