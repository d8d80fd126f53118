//! `hookwasm plugin new`: each template is written, builds with its own
//! toolchain, and runs under `hookwasm plugin test`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::support::{fixtures, hookwasm};

fn event() -> String {
    fixtures()
        .join("dodo/payment.succeeded.json")
        .display()
        .to_string()
}

/// `plugin test` of `plugin` on the payment.succeeded fixture: the JSON body
/// sent, after checking it delivers.
fn body_of(plugin: &Path) -> Value {
    let (code, stdout, stderr) = hookwasm(&[
        "plugin",
        "test",
        &plugin.display().to_string(),
        &event(),
        "--url",
        "https://example.com/hook",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcome"], "deliver", "{report}");
    report["request"]["body"].clone()
}

#[test]
fn the_js_template_runs_and_mistakes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (code, stdout, stderr) = hookwasm(&["plugin", "new", "greet", "--lang", "js", "--dir", &d]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("greet.js"), "{stdout}");
    // The "next" hint names a sample that exists.
    let sample = dir.path().join("greet.event.json");
    assert!(stdout.contains(&sample.display().to_string()), "{stdout}");
    assert!(sample.is_file());
    let body = body_of(&dir.path().join("greet.js"));
    assert_eq!(body["payment_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");
    assert_eq!(body["amount"], "21.59");
    // Yen have no minor unit, dinars three: not "/ 100" for every currency.
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(&sample).unwrap()).unwrap();
    for (currency, amount, expect) in [("JPY", 2159, "2159"), ("KWD", 2159, "2.159")] {
        event["data"]["currency"] = currency.into();
        event["data"]["total_amount"] = amount.into();
        let file = dir.path().join(format!("{currency}.json"));
        std::fs::write(&file, event.to_string()).unwrap();
        let (code, stdout, stderr) = hookwasm(&[
            "plugin",
            "test",
            &dir.path().join("greet.js").display().to_string(),
            &file.display().to_string(),
            "--url",
            "https://example.com/hook",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["request"]["body"]["amount"], expect, "{report}");
    }

    let (code, _, stderr) = hookwasm(&["plugin", "new", "greet", "--lang", "js", "--dir", &d]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, _, stderr) = hookwasm(&["plugin", "new", "Bad Name", "--dir", &d]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a plugin name"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_rust_template_builds_into_a_working_component() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // No --sdk-path: the project gets its own copy of the SDK, so it builds
    // from crates.io alone, wherever it is.
    let (code, _, stderr) =
        hookwasm(&["plugin", "new", "pay-notify", "--lang", "rust", "--dir", &d]);
    assert_eq!(code, 0, "{stderr}");
    let project = dir.path().join("pay-notify");
    assert!(project.join("hookwasm-sdk/wit/transformer.wit").is_file());
    assert!(project.join("event.json").is_file());
    // The workspace's lock file pins the versions already downloaded.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        // Shared between runs, so only the first one compiles the SDK.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("template-rust"),
        );
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        build.env_remove(var);
    }
    let out = build.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("template-rust/wasm32-wasip2/release/pay_notify.wasm");
    let body = body_of(&wasm);
    assert_eq!(body["payment_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");
    assert_eq!(body["event"], "payment.succeeded");
}

/// Needs componentize-py, which `plugins/examples/ci-build.sh` installs
/// (CI runs it); without it the test says so and passes.
#[test]
fn the_python_template_builds_into_a_working_component() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cpy = root.join("plugins/examples/.venv/bin/componentize-py");
    if !cpy.is_file() {
        eprintln!(
            "skipped: no {} (run plugins/examples/ci-build.sh)",
            cpy.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (code, _, stderr) = hookwasm(&[
        "plugin",
        "new",
        "py-notify",
        "--lang",
        "python",
        "--dir",
        &d,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let project = dir.path().join("py-notify");
    let out = Command::new("sh")
        .arg(project.join("build.sh"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                cpy.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = body_of(&project.join("py-notify.wasm"));
    assert_eq!(body["payment_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");
}
