//! `hookwasm plugin new <name> --lang rust|js|python`: writes a plugin that
//! builds as it is, from the templates in `cli/templates/`, so a user starts
//! from working code instead of the WIT file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::usage;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Lang {
    /// A crate using hookwasm's plugin SDK, built with cargo.
    Rust,
    /// A handler file run by the built-in `js` plugin: no toolchain.
    Js,
    /// A componentize-py project (embeds CPython).
    Python,
}

#[derive(Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and '-', starting with a
    /// letter. Endpoints name it with `plugin = "<name>"`.
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Js)]
    lang: Lang,
    /// Where to write it (default: the current directory).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Rust: use the SDK at this path instead of the copy written into the
    /// project (`hookwasm-sdk/`, the version this binary was built with).
    #[arg(long)]
    sdk_path: Option<PathBuf>,
}

const WIT: &str = include_str!("../../../wit/transformer.wit");
/// A sample event to try a new plugin on (`plugin test`).
const SAMPLE_EVENT: &str = include_str!("../../samples/dodo/payment.succeeded.json");

/// The SDK's sources, written into a new Rust project so it builds anywhere
/// with only crates.io: the SDK is not published, and a git URL may not be
/// reachable. Its bindings read the WIT file from the copy's own `wit/`.
const SDK_FILES: &[(&str, &str)] = &[
    (
        "src/bindings.rs",
        include_str!("../../../plugins/sdk/src/bindings.rs"),
    ),
    (
        "src/envelope.rs",
        include_str!("../../../plugins/sdk/src/envelope.rs"),
    ),
    (
        "src/error.rs",
        include_str!("../../../plugins/sdk/src/error.rs"),
    ),
    (
        "src/event.rs",
        include_str!("../../../plugins/sdk/src/event.rs"),
    ),
    (
        "src/ids.rs",
        include_str!("../../../plugins/sdk/src/ids.rs"),
    ),
    (
        "src/json.rs",
        include_str!("../../../plugins/sdk/src/json.rs"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "src/money.rs",
        include_str!("../../../plugins/sdk/src/money.rs"),
    ),
    (
        "src/notice.rs",
        include_str!("../../../plugins/sdk/src/notice.rs"),
    ),
    (
        "src/outcome.rs",
        include_str!("../../../plugins/sdk/src/outcome.rs"),
    ),
    (
        "src/plugin.rs",
        include_str!("../../../plugins/sdk/src/plugin.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
    (
        "src/text.rs",
        include_str!("../../../plugins/sdk/src/text.rs"),
    ),
    (
        "src/time.rs",
        include_str!("../../../plugins/sdk/src/time.rs"),
    ),
    (
        "src/url.rs",
        include_str!("../../../plugins/sdk/src/url.rs"),
    ),
    ("README.md", include_str!("../../../plugins/sdk/README.md")),
];

/// The copy's manifest: the SDK's own, without the workspace it lives in.
const SDK_MANIFEST: &str = r#"[package]
name = "hookwasm-sdk"
description = "Write hookwasm plugins in Rust (the copy `hookwasm plugin new` wrote)"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[lib]
name = "hookwasm_sdk"

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc"] }
serde_json = "1"
serde_json_borrow = "0.9"
sha2 = { version = "0.10", default-features = false }
uuid = { version = "1", default-features = false, features = ["v5"] }
"#;

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let name = args.name.as_str();
    let crate_name = name.replace('-', "_");
    let sdk = match &args.sdk_path {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            if !path.join("Cargo.toml").is_file() {
                return Err(usage(format!(
                    "--sdk-path {}: no Cargo.toml there",
                    path.display()
                )));
            }
            format!(
                "hookwasm-sdk = {{ path = {:?} }}",
                path.display().to_string()
            )
        }
        None => "hookwasm-sdk = { path = \"hookwasm-sdk\" }".to_string(),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk)
    };

    let (root, files): (PathBuf, Vec<(String, String)>) = match args.lang {
        Lang::Js => {
            let file = args.dir.join(format!("{name}.js"));
            let sample = args.dir.join(format!("{name}.event.json"));
            refuse_existing(&file)?;
            write(&file, &fill(include_str!("templates/handler.js")))?;
            if !sample.exists() {
                write(&sample, SAMPLE_EVENT)?;
            }
            println!(
                "wrote {} and a sample event, {}",
                file.display(),
                sample.display()
            );
            println!(
                "next: hookwasm plugin test {} {} --url https://example.com/hook",
                file.display(),
                sample.display()
            );
            println!("then copy it into the plugins directory; endpoints use plugin = \"{name}\"");
            return Ok(ExitCode::SUCCESS);
        }
        Lang::Rust => (
            args.dir.join(name),
            rust_files(args.sdk_path.is_none())
                .into_iter()
                .chain(
                    [
                        ("event.json", SAMPLE_EVENT.to_string()),
                        (
                            "Cargo.toml",
                            fill(include_str!("templates/rust/Cargo.toml")),
                        ),
                        ("src/lib.rs", fill(include_str!("templates/rust/lib.rs"))),
                        ("build.sh", fill(include_str!("templates/rust/build.sh"))),
                        ("README.md", fill(include_str!("templates/rust/README.md"))),
                        (".gitignore", fill(include_str!("templates/rust/gitignore"))),
                    ]
                    .map(|(path, text)| (path.to_string(), text)),
                )
                .collect(),
        ),
        Lang::Python => (
            args.dir.join(name),
            [
                ("app.py", fill(include_str!("templates/python/app.py"))),
                ("build.sh", fill(include_str!("templates/python/build.sh"))),
                (
                    "requirements.txt",
                    fill(include_str!("templates/python/requirements.txt")),
                ),
                (
                    "README.md",
                    fill(include_str!("templates/python/README.md")),
                ),
                (
                    ".gitignore",
                    fill(include_str!("templates/python/gitignore")),
                ),
                ("wit/transformer.wit", WIT.to_string()),
                ("event.json", SAMPLE_EVENT.to_string()),
            ]
            .map(|(path, text)| (path.to_string(), text))
            .to_vec(),
        ),
    };
    refuse_existing(&root)?;
    for (relative, text) in &files {
        write(&root.join(relative), text)?;
    }
    println!("wrote {}/ ({} files)", root.display(), files.len());
    println!("next: see {}", root.join("README.md").display());
    Ok(ExitCode::SUCCESS)
}

/// The SDK's copy for a Rust project (none with `--sdk-path`).
fn rust_files(vendored: bool) -> Vec<(String, String)> {
    if !vendored {
        return Vec::new();
    }
    let mut files: Vec<(String, String)> = SDK_FILES
        .iter()
        .map(|(path, text)| {
            let text = if *path == "src/bindings.rs" {
                text.replace("path: \"../../wit\"", "path: \"wit\"")
            } else {
                text.to_string()
            };
            (format!("hookwasm-sdk/{path}"), text)
        })
        .collect();
    files.push(("hookwasm-sdk/Cargo.toml".into(), SDK_MANIFEST.to_string()));
    files.push(("hookwasm-sdk/wit/transformer.wit".into(), WIT.to_string()));
    files
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "{name:?} is not a plugin name: use lowercase letters, digits and '-', starting with a letter"
        )))
    }
}

fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Err(usage(format!(
            "{} already exists; choose another name or --dir",
            path.display()
        )));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if path.extension().is_some_and(|x| x == "sh") {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("slack-notify").is_ok());
        assert!(check_name("a1").is_ok());
        for bad in ["", "Slack", "1abc", "a b", "../x", "a_b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
