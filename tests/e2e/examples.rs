//! The compiled examples in other languages (`plugins/examples/`) give the
//! same results through `hookwasm plugin test`. CI builds the JavaScript and
//! Python ones first (`plugins/examples/ci-build.sh`, from `.ci/run`); a
//! checkout without them built says so and checks what is there.

use std::path::Path;
use std::process::Command;

#[test]
fn built_examples_pass_the_shared_checks() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    let built: Vec<String> = ["js", "python", "c", "go", "rust"]
        .iter()
        .map(|lang| examples.join(format!("dist/{lang}-slack-notify.wasm")))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if built.is_empty() {
        eprintln!("skipped: no example is built (run plugins/examples/ci-build.sh)");
        return;
    }
    let out = Command::new("python3")
        .arg(examples.join("check.py"))
        .arg("--hookwasm")
        .arg(env!("CARGO_BIN_EXE_hookwasm"))
        .args(&built)
        .env("HOOKWASM_CACHE_DIR", super::support::shared_cache())
        .output()
        .expect("python3 runs check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
