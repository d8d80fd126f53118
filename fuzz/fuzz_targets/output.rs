//! Plugin-output validation on arbitrary requests: a plugin is untrusted, so
//! what it returns is input. Never a panic; whatever is accepted keeps the
//! endpoint's origin, has no CR/LF/NUL in a header and no host-owned header,
//! and fits the body limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The two records of the WIT contract that validation reads, with the
/// field names `wasmtime::component::bindgen!` gives them in the host.
mod bindings {
    pub struct Header {
        pub name: String,
        pub value: String,
    }
    pub struct Request {
        pub method: String,
        pub url: String,
        pub headers: Vec<Header>,
        pub body: Vec<u8>,
    }
}

#[allow(dead_code, unused_imports)]
#[path = "../../host/src/runtime/output.rs"]
mod output;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/model/mod.rs"]
mod model;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/signature/mod.rs"]
mod signature;

fuzz_target!(|data: &[u8]| {
    // method \n url \n name: value \n … \0 body
    let (head, body) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], data[at + 1..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or_default().to_string();
    let url = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            bindings::Header {
                name: name.to_string(),
                value: value.trim_start().to_string(),
            }
        })
        .collect();
    let request = bindings::Request { method, url, headers, body };
    let policy = output::OutputPolicy::for_base(Some("https://api.example.com/v1/x"), 4096);
    if let Ok(valid) = output::validate(request, &policy) {
        let parsed = url::Url::parse(&valid.url).expect("accepted URLs parse");
        assert_eq!(parsed.origin(), policy.origin.clone().unwrap());
        assert!(valid.body.len() <= 4096);
        for (name, value) in &valid.headers {
            assert!(!value.contains(['\r', '\n', '\0']), "{name}: {value:?}");
            assert!(!["host", "content-length", "transfer-encoding", "connection"].contains(&name.as_str()));
        }
    }
});
