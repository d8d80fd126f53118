//! How much freed heap the process keeps: glibc's allocator, left to
//! itself, holds on to memory that the server no longer uses.
//!
//! Why: sled allocates a 512 KiB log buffer for every batch it seals
//! (several per write batch) and frees it once written. glibc raises its
//! mmap and trim thresholds when such a block is freed (up to 32 and
//! 64 MB), after which the buffers come from the heap and leave it
//! fragmented: under load the server's RSS grew with every event stored,
//! ~1 KB each, to 200 MB after 100,000 events though its live data stayed
//! flat. With the thresholds fixed below that size, each buffer is mapped
//! and unmapped on its own: RSS stays at 65–95 MB for the same run, for
//! ~4 % more server CPU (measured with `hookwasm bench`; raising the mmap
//! threshold to 1 MiB saves that CPU but brings the growth back).
//! Compiling a plugin also leaves a few hundred MB of freed heap behind,
//! given back once the compile is done.

/// Freed memory above this much at the top of a heap goes back to the OS.
const TRIM_THRESHOLD: i32 = 1 << 20;
/// Blocks this large or larger get their own mapping, freed at once.
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Fixes glibc's thresholds (which also stops it from raising them); call
/// once, at start, before other threads allocate. A no-op elsewhere.
pub fn limit_retained_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns free heap pages to the OS, wherever they are in the heap (after
/// a compile). A no-op where the allocator has no such call.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks;
    // it may be called at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
