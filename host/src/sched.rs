//! Scheduling hints for the server's own threads: which work an
//! acknowledgement waits on, and which is throughput.
//!
//! Why: on a busy machine every ingest waits for the writer thread (its
//! batch) and the commit thread (its flush), while the plugin threads run
//! transforms flat out beside them. Left alike, a woken writer waits its
//! turn behind a transform's time slice. Linux 6.12+ lets a thread ask for
//! a shorter slice, which brings its deadline forward so it runs soon after
//! it wakes, and any Linux lets CPU-bound threads say so (`SCHED_BATCH`),
//! so they stop preempting others on wakeup. Neither changes a thread's
//! share of the CPU, and neither needs privileges. Measured with
//! `hookwasm bench` in alternating runs: the acknowledgement p99 fell by
//! 5–10 % (lower in 29 of 38 pairs), at the same CPU per event.
//!
//! A kernel or sandbox that refuses a hint (older than 6.12 for the slice,
//! a seccomp filter) leaves the thread as it was: the server works the
//! same, only without the hint.

/// The slice asked for by threads an acknowledgement waits on: the
/// kernel's shortest (its default is 0.7–3 ms).
#[cfg(target_os = "linux")]
const LATENCY_SLICE_NS: u64 = 100_000;

/// Marks the calling thread as one that acknowledgements wait on (the
/// store's writer and commit threads); returns whether the kernel took
/// the hint.
pub fn latency_sensitive(thread: &str) -> bool {
    #[cfg(target_os = "linux")]
    return apply(thread, libc::SCHED_OTHER as u32, LATENCY_SLICE_NS);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread;
        false
    }
}

/// Marks the calling thread as throughput work (the plugin threads);
/// returns whether the kernel took the hint.
pub fn throughput(thread: &str) -> bool {
    #[cfg(target_os = "linux")]
    return apply(thread, libc::SCHED_BATCH as u32, 0);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread;
        false
    }
}

/// `struct sched_attr` (its first version, 56 bytes), which the libc
/// crate does not define.
#[cfg(target_os = "linux")]
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    /// For `SCHED_OTHER`, the slice asked for (Linux 6.12+).
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

#[cfg(target_os = "linux")]
fn apply(thread: &str, policy: u32, runtime: u64) -> bool {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags: 0,
        nice: 0,
        priority: 0,
        runtime,
        deadline: 0,
        period: 0,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: sched_setattr reads `size` bytes of `attr`, a live, correctly
    // laid out struct; pid 0 is the calling thread.
    let done = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if done != 0 {
        tracing::debug!(
            thread,
            "the kernel refused a scheduling hint: {}",
            std::io::Error::last_os_error()
        );
    }
    done == 0
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// What the kernel holds for the calling thread: (policy, slice).
    fn current() -> (u32, u64) {
        let mut attr = std::mem::MaybeUninit::<SchedAttr>::zeroed();
        // SAFETY: sched_getattr writes at most `size` (the third argument)
        // bytes into `attr`, which has room for them.
        let done = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                attr.as_mut_ptr(),
                std::mem::size_of::<SchedAttr>() as u32,
                0,
            )
        };
        assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
        // SAFETY: zeroed, then filled in by the kernel.
        let attr = unsafe { attr.assume_init() };
        (attr.policy, attr.runtime)
    }

    /// Where the kernel takes a hint (a sandbox may refuse it), it holds
    /// it for the thread that asked, and for no other.
    #[test]
    fn hints_reach_the_kernel_for_the_calling_thread_only() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
        let before = std::thread::spawn(current).join().unwrap();
        let (taken, batch) = std::thread::spawn(|| (throughput("test"), current()))
            .join()
            .unwrap();
        if taken {
            assert_eq!(batch.0, libc::SCHED_BATCH as u32);
        }
        let (taken, latency) = std::thread::spawn(|| (latency_sensitive("test"), current()))
            .join()
            .unwrap();
        if taken {
            assert_eq!(latency.0, libc::SCHED_OTHER as u32);
            // Kernels before 6.12 report no slice; later ones ours.
            assert!(
                latency.1 == LATENCY_SLICE_NS || latency.1 == before.1,
                "{latency:?}"
            );
        }
        assert_eq!(std::thread::spawn(current).join().unwrap(), before);
    }
}
