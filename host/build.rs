//! Builds the plugins in `plugins/` for `wasm32-wasip2` so the host can embed
//! them: the `hookwasm` binary alone is the product.
//!
//! The guests are compiled by a nested `cargo build` with the size-optimised
//! `plugin` profile into their own target directory (shared by dev and
//! release host builds, so a `cargo test` followed by `cargo run --release`
//! compiles them once). The resulting `.wasm` files are copied into `OUT_DIR`,
//! where `src/runtime/builtin.rs` includes them and the tests find the
//! test-only plugin (`misbehave.wasm`) through `HOOKWASM_GUEST_DIR`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (cargo package, library name = wasm file stem)
const GUESTS: &[(&str, &str)] = &[
    ("hookwasm-plugin-loops", "loops"),
    ("hookwasm-plugin-customerio", "customerio"),
    ("hookwasm-plugin-windmill", "windmill"),
    ("hookwasm-plugin-inngest", "inngest"),
    ("hookwasm-plugin-slack", "slack"),
    ("hookwasm-plugin-discord", "discord"),
    ("hookwasm-plugin-teams", "teams"),
    ("hookwasm-plugin-hubspot", "hubspot"),
    ("hookwasm-plugin-segment", "segment"),
    ("hookwasm-plugin-sendgrid", "sendgrid"),
    ("hookwasm-plugin-resend", "resend"),
    ("hookwasm-plugin-zapier", "zapier"),
    ("hookwasm-plugin-close", "close"),
    ("hookwasm-plugin-webhook", "webhook"),
    ("hookwasm-plugin-js", "js"),
    ("hookwasm-plugin-testing", "misbehave"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));

    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("wit").display()
    );
    // Only the guests' own crates (and the SDK): not plugins/examples, whose
    // builds write node_modules, a venv and dist/.
    for dir in std::iter::once("sdk").chain(
        GUESTS
            .iter()
            .map(|(package, _)| package.strip_prefix("hookwasm-plugin-").unwrap_or(package)),
    ) {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join("plugins").join(dir).display()
        );
    }
    // Cargo.toml holds the `plugin` profile the guests are built with.
    for file in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo::rerun-if-changed={}", workspace.join(file).display());
    }
    println!("cargo::rerun-if-env-changed=HOOKWASM_GUEST_PROFILE");

    let target_dir = guest_target_dir(&out_dir);
    let profile = env::var("HOOKWASM_GUEST_PROFILE").unwrap_or_else(|_| "plugin".to_string());
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&workspace)
        .arg("build")
        .arg("--profile")
        .arg(&profile)
        .arg("--target")
        .arg(TARGET)
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in GUESTS {
        cmd.arg("-p").arg(package);
    }
    // The outer build's flags are for the host, not for wasm guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    if let Ok(rustc) = env::var("RUSTC") {
        cmd.env("RUSTC", rustc);
    }

    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => fail(&format!(
            "could not run `{cargo}` to build the plugins: {e}"
        )),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`")
        {
            fail(&format!(
                "the {TARGET} target is not installed for this toolchain; run `rustup target add {TARGET}` \
                 (rust-toolchain.toml lists it, but automatic installs are off here)"
            ));
        }
        fail(&format!(
            "building the plugins for {TARGET} failed:\n{stderr}"
        ));
    }

    let built = target_dir.join(TARGET).join(&profile);
    for (_, stem) in GUESTS {
        let from = built.join(format!("{stem}.wasm"));
        let to = out_dir.join(format!("{stem}.wasm"));
        if let Err(e) = std::fs::copy(&from, &to) {
            fail(&format!(
                "copying {} to {}: {e}",
                from.display(),
                to.display()
            ));
        }
    }
    println!("cargo::rustc-env=HOOKWASM_GUEST_DIR={}", out_dir.display());
}

/// The guests get their own target directory next to the host's, found as the
/// ancestor of `OUT_DIR` that cargo marked with `CACHEDIR.TAG`.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(|target| target.join("wasm-plugins"))
        .unwrap_or_else(|| out_dir.join("wasm-plugins"))
}

fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo::error={line}");
    }
    std::process::exit(1);
}
