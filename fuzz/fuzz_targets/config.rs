//! Config parsing on arbitrary text: the TOML file's shape (`config/raw.rs`)
//! and the one validation of sources and endpoints shared with the admin API
//! (`catalog/validate.rs`), with `${VAR}` expansion. Never a panic: every
//! input is a config or a list of problems.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

// The host's own source files, in the module tree they expect (`crate::`
// paths as in the host; `super::spec` from validate.rs is `crate::spec`).
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/model/mod.rs"]
mod model;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/signature/mod.rs"]
mod signature;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/config/expand.rs"]
mod expand;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/config/raw.rs"]
pub mod raw;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/catalog/spec.rs"]
pub mod spec;
#[allow(dead_code, unused_imports)]
#[path = "../../host/src/catalog/validate.rs"]
pub mod validate;
mod config {
    pub use crate::expand::*;
    pub use crate::raw;
}
mod catalog {
    pub use crate::{spec, validate};
}

fn env(name: &str) -> Option<String> {
    match name {
        "SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        "TOKEN" => Some("a-token-of-some-length".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<config::raw::File>(text) else {
        return;
    };
    let plugins = vec![model::PluginInfo {
        default_url: Some("https://app.loops.so/api/v1/events/send".into()),
        ..model::PluginInfo::unknown("loops", "built-in".into())
    }];
    let cx = catalog::validate::Context {
        env: Some(&env),
        base_dir: Path::new("/nonexistent"),
        sources: file.sources.keys().cloned().collect(),
        plugins: &plugins,
        allow_private_destinations: false,
        max_memory_bytes: 512 << 20,
        check_tls: None,
    };
    for (id, spec) in &file.sources {
        let mut report = catalog::validate::Report::default();
        let checked = catalog::validate::source(id, spec, &cx, &mut report);
        assert!(checked.is_some() || !report.problems.is_empty());
    }
    for spec in &file.endpoints {
        let mut report = catalog::validate::Report::default();
        if let Some(endpoint) = catalog::validate::endpoint(spec, &cx, &mut report) {
            // A valid endpoint's auth always makes a header.
            let _ = endpoint.auth.as_ref().map(|a| a.header());
            let _ = format!("{endpoint:?}");
        } else {
            assert!(!report.problems.is_empty(), "refused with no problem named");
        }
    }
});
