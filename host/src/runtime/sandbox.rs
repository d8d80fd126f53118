//! The per-call sandbox state: a WASI context that grants nothing, a memory
//! limiter that remembers when it said no, and bounded capture of the guest's
//! stdout and stderr.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one call's `Store`.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
}

impl CallState {
    pub(crate) fn new(memory_limit: usize, capture_bytes: usize) -> Self {
        let stdout = Captured::new(capture_bytes);
        let stderr = Captured::new(capture_bytes);
        // No preopens, env, args or network: `WasiCtxBuilder` grants none of
        // them unless asked, and sockets are denied for every address.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                denied: None,
                peak: 0,
            },
            stdout,
            stderr,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces the per-call memory limit (the engine's pool has one ceiling for
/// everyone) and records a refusal so that the trap that usually follows —
/// an allocator aborting — is reported as "memory limit", not as a crash.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) denied: Option<usize>,
    /// The largest linear memory granted in this call, in bytes.
    pub(crate) peak: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = Some(desired);
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A guest output stream that keeps the first `capacity` bytes and quietly
/// drops the rest: a chatty plugin must neither fill the host's memory nor
/// fail because of it.
#[derive(Clone)]
pub(crate) struct Captured {
    inner: Arc<Mutex<CapturedBuf>>,
}

struct CapturedBuf {
    kept: Vec<u8>,
    capacity: usize,
    dropped: usize,
}

impl Captured {
    fn new(capacity: usize) -> Self {
        Captured {
            inner: Arc::new(Mutex::new(CapturedBuf {
                kept: Vec::new(),
                capacity,
                dropped: 0,
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let Ok(mut buf) = self.inner.lock() else {
            return;
        };
        let room = buf.capacity.saturating_sub(buf.kept.len());
        let take = room.min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..take]);
        buf.dropped += bytes.len() - take;
    }

    /// What the guest wrote (lossy UTF-8) and how many bytes were dropped.
    pub(crate) fn take(&self) -> (String, usize) {
        match self.inner.lock() {
            Ok(mut buf) => {
                let text = String::from_utf8_lossy(&buf.kept).into_owned();
                buf.kept.clear();
                (text, std::mem::take(&mut buf.dropped))
            }
            Err(_) => (String::new(), 0),
        }
    }
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// The permit offered to the guest per write; any size works since nothing
/// blocks.
const WRITE_PERMIT: usize = 64 << 10;

#[wasmtime_wasi::async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl OutputStream for Captured {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for Captured {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_keeps_the_head_and_counts_the_rest() {
        let out = Captured::new(8);
        out.push(b"hello ");
        out.push(b"world, and more");
        let (text, dropped) = out.take();
        assert_eq!(text, "hello wo");
        assert_eq!(dropped, 13);
    }

    #[test]
    fn limiter_refuses_growth_past_the_limit_and_remembers() {
        let mut limiter = MemoryLimiter {
            limit: 1 << 20,
            denied: None,
            peak: 0,
        };
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(limiter.denied.is_none());
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert_eq!(limiter.denied, Some(2 << 20));
    }
}
