//! Loading a model or building the FAQ index allocates and frees hundreds of megabytes, and
//! the allocator keeps what was freed for later use, which would leave the daemon's resident
//! memory at its loading peak. The daemon hands freed memory back at an interval: the working
//! memory of inference stays in place between runs (a low mmap threshold, which would free it
//! after every run, made each inference fault it in again: 0.57 instead of 0.33 cores on the
//! demo).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Returns the memory freed so far to the system every `interval`, off the async runtime.
pub async fn return_freed_memory_every(interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let _ = tokio::task::spawn_blocking(return_freed_memory).await;
    }
}

fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
