//! Loading a model or building the FAQ index allocates and frees hundreds of megabytes, and
//! the allocator keeps what was freed for later use, which would leave the daemon's resident
//! memory at its loading peak. The daemon hands freed memory back every metrics interval: the
//! working memory of inference stays in place between runs (a low mmap threshold, which would
//! free it after every run, made each inference fault it in again: 0.57 instead of 0.33 cores
//! on the demo).

/// Returns the memory freed so far to the system.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
