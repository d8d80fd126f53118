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
    /// Rust: use the SDK at this path instead of from the hookwasm git repository.
    #[arg(long)]
    sdk_path: Option<PathBuf>,
}

const WIT: &str = include_str!("../../../wit/transformer.wit");
const SDK_GIT: &str = "https://github.com/hookwasm/hookwasm";

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
        None => format!("hookwasm-sdk = {{ git = \"{SDK_GIT}\" }}"),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk)
    };

    let (root, files): (PathBuf, Vec<(&str, String)>) = match args.lang {
        Lang::Js => {
            let file = args.dir.join(format!("{name}.js"));
            refuse_existing(&file)?;
            write(&file, &fill(include_str!("templates/handler.js")))?;
            println!("wrote {}", file.display());
            println!(
                "next: hookwasm plugin test {} event.json --url https://example.com/hook",
                file.display()
            );
            println!("then copy it into the plugins directory; endpoints use plugin = \"{name}\"");
            return Ok(ExitCode::SUCCESS);
        }
        Lang::Rust => (
            args.dir.join(name),
            vec![
                (
                    "Cargo.toml",
                    fill(include_str!("templates/rust/Cargo.toml")),
                ),
                ("src/lib.rs", fill(include_str!("templates/rust/lib.rs"))),
                ("build.sh", fill(include_str!("templates/rust/build.sh"))),
                ("README.md", fill(include_str!("templates/rust/README.md"))),
                (".gitignore", fill(include_str!("templates/rust/gitignore"))),
            ],
        ),
        Lang::Python => (
            args.dir.join(name),
            vec![
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
            ],
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
