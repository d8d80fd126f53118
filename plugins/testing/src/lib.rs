//! A plugin that misbehaves on demand, for the host's sandbox tests: the
//! event type picks the behaviour (never shipped in the binary).
//!
//! | event type  | behaviour                                                        |
//! |-------------|------------------------------------------------------------------|
//! | `loop`      | spins forever (fuel / epoch limits must stop it)                 |
//! | `grow`      | allocates and touches 1 MiB chunks without bound (memory limit)  |
//! | `panic`     | panics (a trap, since plugins are built with `panic = "abort"`)  |
//! | `crlf`      | delivers a header value containing CR LF (header injection)      |
//! | `huge-body` | delivers a 20 MiB body (body size limit)                         |
//! | `chatty`    | writes ~8 MiB to stdout and some to stderr, then delivers        |
//! | `sleep`     | sleeps 30 s, then skips (wall-clock timeout)                     |
//! | `skip`      | skips with "asked to skip"                                       |
//! | `err`       | fails with "misbehave: err: asked to fail"                       |
//! | `echo`, any other | delivers the event itself back as JSON to the endpoint URL |

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use hookwasm_sdk::prelude::*;
use hookwasm_sdk::serde_json;

/// Where requests go when the event has no endpoint URL.
pub const FALLBACK_URL: &str = "https://example.com/hook";

/// The misbehaving plugin.
pub struct Misbehave;

hookwasm_sdk::plugin!(
    Misbehave,
    name = "misbehave",
    description = "Misbehaves on demand (spins, grows, panics, floods) for host tests",
    default_url = FALLBACK_URL,
);

impl Plugin for Misbehave {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        match event.event_type.as_str() {
            "loop" => spin(),
            "grow" => grow(),
            "panic" => panic!("misbehave: asked to panic"),
            "crlf" => Ok(Request::post(FALLBACK_URL)
                .header("x-evil", "a\r\nx-injected: 1")
                .body("{}")
                .into()),
            "huge-body" => Ok(Request::post(FALLBACK_URL)
                .body(vec![b'a'; 20 << 20])
                .into()),
            "chatty" => {
                chatter();
                Ok(Request::post(FALLBACK_URL)
                    .json(json!({"chatty": true}))
                    .into())
            }
            "sleep" => {
                std::thread::sleep(Duration::from_secs(30));
                Ok(Outcome::skip("slept 30 s"))
            }
            "skip" => Ok(Outcome::skip("asked to skip")),
            // The whole message, as the contract's example of a plugin error
            // (`call` adds "misbehave: err: ").
            "err" => Err(Error::new("asked to fail")),
            _ => Ok(echo(event)),
        }
    }
}

/// Never returns; `black_box` keeps the optimiser from proving the loop
/// has no effect.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Never returns: keeps every chunk alive and writes to each page of it, so
/// the memory is really committed.
fn grow() -> ! {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for page in chunk.chunks_mut(4096) {
            page[0] = 0xA5;
        }
        chunks.push(black_box(chunk));
    }
}

/// About 8 MiB on stdout and 64 KiB on stderr, in 1 KiB lines.
fn chatter() {
    let mut line = "chatty ".repeat(147);
    line.truncate(1023);
    line.push('\n');
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for _ in 0..8 * 1024 {
        // A host that closes the stream is not this plugin's problem.
        if out.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = out.flush();
    let mut err = std::io::stderr().lock();
    for _ in 0..64 {
        if err.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
}

/// The event, as JSON, to the endpoint URL: lets host tests see exactly what
/// a plugin was given.
fn echo(event: &Event) -> Outcome {
    let settings: Object = event
        .settings
        .iter()
        .fold(Object::new(), |object, (key, value)| object.set(key, value));
    // Parsed when it is JSON (of any kind), else the raw text.
    let payload = serde_json::from_str(&event.payload)
        .unwrap_or_else(|_| Value::from(event.payload.as_str()));
    let body = json!({
        "id": event.id,
        "delivery_key": event.delivery_key,
        "event_type": event.event_type,
        "settings": Value::from(settings),
        "payload": payload,
        "plugin": "misbehave",
    });
    let url = event.endpoint_url.as_deref().unwrap_or(FALLBACK_URL);
    Request::post(url).json(body).into()
}

#[cfg(test)]
mod tests;
