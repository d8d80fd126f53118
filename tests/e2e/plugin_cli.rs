//! `hookwasm plugin test` and `plugin list`, run as a user would.

use serde_json::Value;

use super::support::{fixtures, hookwasm};

/// One expected case per plugin, through the CLI.
#[test]
fn plugin_test_prints_the_expected_request_for_each_built_in() {
    for plugin in ["loops", "customerio", "windmill", "inngest"] {
        let spec: Value = serde_json::from_slice(
            &std::fs::read(fixtures().join(format!("expected/{plugin}.payment.succeeded.json")))
                .unwrap(),
        )
        .unwrap();
        let event = fixtures().join(spec["event"].as_str().unwrap());
        let mut args = vec![
            "plugin".to_string(),
            "test".into(),
            plugin.into(),
            event.display().to_string(),
            "--id".into(),
            spec["webhook_id"].as_str().unwrap().into(),
            "--endpoint".into(),
            spec["endpoint_id"].as_str().unwrap().into(),
        ];
        if let Some(url) = spec["endpoint_url"].as_str() {
            args.extend(["--url".into(), url.into()]);
        }
        for (k, v) in spec["settings"].as_object().unwrap() {
            args.extend(["--set".into(), format!("{k}={}", v.as_str().unwrap())]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = hookwasm(&args);
        assert_eq!(code, 0, "{plugin}: {stderr}");
        let got: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{plugin}: {e}: {stdout}"));
        assert_eq!(got["outcome"], spec["expect"]["outcome"], "{plugin}");
        assert_eq!(got["request"], spec["expect"]["request"], "{plugin}");
        assert!(got["stats"]["fuel"].as_u64().unwrap() > 0);
    }
}

#[test]
fn plugin_test_reports_skips_failures_and_usage_errors() {
    let refund = fixtures()
        .join("dodo/refund.succeeded.json")
        .display()
        .to_string();
    let (code, stdout, _) = hookwasm(&["plugin", "test", "loops", &refund]);
    assert_eq!(code, 0);
    let got: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(got["outcome"], "skip");
    assert!(got["reason"].as_str().unwrap().contains("refund.succeeded"));

    // Windmill needs an endpoint URL: a transform failure, exit 1.
    let (code, stdout, stderr) = hookwasm(&["plugin", "test", "windmill", &refund]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.starts_with("error: windmill: refund.succeeded:"),
        "{stderr}"
    );
    assert!(stdout.is_empty());

    // Usage errors: exit 2, one line, no panic or backtrace.
    for args in [
        vec!["plugin", "test", "nope", refund.as_str()],
        vec!["plugin", "test", "loops", "/no/such/file.json"],
        vec![
            "plugin",
            "test",
            "loops",
            refund.as_str(),
            "--set",
            "novalue",
        ],
    ] {
        let (code, _, stderr) = hookwasm(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
}

#[test]
fn plugin_test_runs_a_wasm_file_and_list_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.wasm");
    std::fs::copy(
        std::path::Path::new(env!("HOOKWASM_GUEST_DIR")).join("misbehave.wasm"),
        &file,
    )
    .unwrap();
    let event = dir.path().join("e.json");
    std::fs::write(&event, r#"{"type":"loop"}"#).unwrap();
    let (code, _, stderr) = hookwasm(&[
        "plugin",
        "test",
        file.to_str().unwrap(),
        event.to_str().unwrap(),
        "--fuel",
        "1000000",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("ran out of fuel"), "{stderr}");

    let (code, stdout, _) = hookwasm(&[
        "plugin",
        "list",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    for name in ["loops", "customerio", "windmill", "inngest", "mine"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("Misbehaves on demand"), "{stdout}");
}
