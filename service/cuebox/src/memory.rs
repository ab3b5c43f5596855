//! Loading a model allocates and frees hundreds of megabytes of tensors; the allocator keeps
//! what was freed for later use, which leaves the daemon's resident memory at its loading peak.
//! Handing it back once loading is done keeps the steady state small without making every
//! inference fault its working memory in again (which a low mmap threshold would).

/// Returns the memory freed so far to the system.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
