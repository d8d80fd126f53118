//! How much freed heap the process keeps: glibc's allocator, left to
//! itself, holds on to memory that the server no longer uses.
//!
//! Why: glibc raises its trim and mmap thresholds each time a large block
//! is freed (up to 32 and 64 MB), and each of its per-thread arenas then
//! keeps that much free memory instead of returning it. Under load the
//! server's RSS grew with every event stored, ~1 KB each: 200 MB after
//! 100,000 events, though its live data stayed flat. Fixed thresholds keep
//! it at 65–95 MB for the same run. Compiling a plugin also leaves a few
//! hundred MB of freed heap behind, given back once the compile is done.

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
