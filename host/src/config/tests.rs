//! Config parsing and checking: the documented shape, and a clear message
//! for each kind of mistake.

use super::*;
use crate::model::{Auth, EventTypes};

fn env(name: &str) -> Option<String> {
    match name {
        "DODO_WEBHOOK_SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        "LOOPS_API_KEY" => Some("loops-key".into()),
        "ADMIN" => Some("0123456789abcdef".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/hookwasm/hookwasm.toml"), text, &env)
}

fn problems(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const BASE: &str = r#"
[sources.dodo]
secrets = ["${DODO_WEBHOOK_SECRET}"]

[[endpoints]]
id = "loops-emails"
source = "dodo"
plugin = "loops"
events = ["payment.succeeded", "dispute.*"]
auth = { bearer = "${LOOPS_API_KEY}" }
settings = { retry_link = "https://x.test/{payment_id}", n = 3 }
limits = { fuel = 1_000, memory_mb = 16, timeout_ms = 50 }
retry = { schedule_secs = [0.5, 2], delivered_statuses = [409] }
rate_limit_per_sec = 10
concurrency = 4
timeout_secs = 5
"#;

#[test]
fn the_documented_shape_parses() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.data_dir, Path::new("/etc/hookwasm/data"));
    assert_eq!(c.server.cache_dir, Path::new("/etc/hookwasm/data/cache"));
    let e = &c.endpoints[0];
    assert_eq!(e.disabled, None);
    assert!(matches!(e.auth, Some(Auth::Bearer(ref t)) if t == "loops-key"));
    assert!(e.settings.contains(&("n".to_string(), "3".to_string())));
    assert_eq!(e.limits.fuel, 1_000);
    assert_eq!(e.limits.memory_bytes, 16 << 20);
    assert_eq!(
        e.retry.schedule,
        vec![Duration::from_millis(500), Duration::from_secs(2)]
    );
    assert_eq!(e.retry.delivered_statuses, vec![409]);
    assert_eq!(
        e.default_url.as_deref(),
        Some("https://app.loops.so/api/v1/events/send")
    );
    assert!(c.sources["dodo"].disabled.is_none());
}

#[test]
fn the_repository_example_parses_on_a_fresh_machine() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hookwasm.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Config::parse(&path, &text, &|_| None).unwrap();
    assert_eq!(c.endpoints.len(), 4);
    assert!(
        c.endpoints.iter().all(|e| e.disabled.is_some()),
        "no secrets set: all disabled"
    );
    assert!(
        c.sources["dodo"]
            .disabled
            .as_deref()
            .unwrap()
            .contains("DODO_WEBHOOK_SECRET")
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("LOOPS_API_KEY is not set")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn unknown_keys_name_the_line() {
    let err = problems("[server]\nlisten = \"127.0.0.1:1\"\nlisten_on = 3\n");
    assert!(
        err.starts_with("/etc/hookwasm/hookwasm.toml: line 3, column 1: unknown field `listen_on`"),
        "{err}"
    );
    let err = problems(&format!("{BASE}\ncolour = \"red\"\n"));
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn every_semantic_problem_is_reported_with_its_key() {
    let text = format!(
        "{BASE}\n[[endpoints]]\nid = \"loops-emails\"\nsource = \"stripe\"\nplugin = \"nope\"\nevents = [\"pay*ment\"]\nconcurrency = 0\n"
    );
    let err = problems(&text);
    assert!(
        err.contains("endpoints[1].id: duplicate id \"loops-emails\" (also endpoints[0])"),
        "{err}"
    );
    assert!(
        err.contains("endpoints[1].source: no source named \"stripe\" (configured: dodo)"),
        "{err}"
    );
    assert!(
        err.contains("endpoints[1].plugin: unknown plugin \"nope\""),
        "{err}"
    );
    assert!(
        err.contains("endpoints[1].events: \"pay*ment\" is not an event pattern"),
        "{err}"
    );
    assert!(err.contains("endpoints[1].concurrency"), "{err}");
}

#[test]
fn plugins_without_a_default_need_a_url() {
    let text = "[sources.s]\nsecrets=[\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n[[endpoints]]\nid=\"w\"\nsource=\"s\"\nplugin=\"windmill\"\nevents=[\"*\"]\n";
    assert!(
        problems(text).contains("endpoints[0].url: plugin \"windmill\" has no default destination")
    );
    let bad_url = text.replace("events=", "url=\"ftp://x\"\nevents=");
    assert!(
        problems(&bad_url).contains("endpoints[0].url: \"ftp://x\" is not an absolute http(s) URL")
    );
}

#[test]
fn an_unset_secret_disables_only_its_endpoint() {
    let text = BASE.replace("${LOOPS_API_KEY}", "${MISSING_KEY}");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.endpoints[0].disabled.as_deref(),
        Some("MISSING_KEY is not set")
    );
    assert!(c.warnings.iter().any(|w| w.contains("MISSING_KEY")));
}

#[test]
fn bad_secrets_and_short_tokens_are_errors() {
    let err = problems("[sources.dodo]\nsecrets = [\"whsec_\"]\n");
    assert!(
        err.contains("sources.dodo.secrets[0]: the secret is empty"),
        "{err}"
    );
    // No configured token is fine anywhere: one is generated at first start.
    let c = parse("[admin]\nlisten = \"0.0.0.0:8081\"\n").unwrap();
    assert_eq!(c.admin.token, None);
    let c = parse("[admin]\nlisten = \"0.0.0.0:8081\"\ntoken = \"${ADMIN}\"\n").unwrap();
    assert_eq!(c.admin.token.as_deref(), Some("0123456789abcdef"));
    assert!(problems("[admin]\ntoken = \"short\"\n").contains("at least 16 characters"));
}

#[test]
fn unverified_sources_are_allowed_but_warned_about() {
    let c = parse("[sources.open]\nverify = false\n").unwrap();
    assert!(c.sources["open"].disabled.is_none());
    assert!(c.warnings.iter().any(|w| w.contains("UNSIGNED")));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let c = parse(&BASE.replace(
        "[sources.dodo]",
        "[admin]\ntoken = \"${ADMIN}\"\n[sources.dodo]",
    ))
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("loops-key"), "{debug}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(
        !debug.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{debug}"
    );
}

#[test]
fn event_filters_match_exact_prefix_and_all() {
    let f = EventTypes::parse(&["payment.succeeded".into(), "dispute.*".into()]).unwrap();
    assert!(f.matches("payment.succeeded"));
    assert!(!f.matches("payment.failed"));
    assert!(f.matches("dispute.opened"));
    assert!(!f.matches("dispute."));
    assert!(!f.matches("disputes.opened"));
    assert!(
        EventTypes::parse(&["*".into()])
            .unwrap()
            .matches("anything")
    );
    assert!(EventTypes::parse(&[]).is_err());
    assert!(EventTypes::parse(&["*.opened".into()]).is_err());
}

#[test]
fn auth_headers_are_built_and_marked_sensitive() {
    let (name, value) = Auth::Basic {
        username: "site".into(),
        password: "key".into(),
    }
    .header()
    .unwrap();
    assert_eq!(name, http::header::AUTHORIZATION);
    assert_eq!(value.to_str().unwrap(), "Basic c2l0ZTprZXk=");
    assert!(value.is_sensitive());
}

#[test]
fn values_from_the_environment_are_redacted() {
    let text = BASE.replace(
        "events = [",
        "url = \"https://inn.gs/e/${LOOPS_API_KEY}\"\nevents = [",
    );
    let c = parse(&text).unwrap();
    let e = &c.endpoints[0];
    assert_eq!(e.url.as_deref(), Some("https://inn.gs/e/loops-key"));
    assert_eq!(
        e.redact("POST https://inn.gs/e/loops-key failed"),
        "POST https://inn.gs/e/${LOOPS_API_KEY} failed"
    );
    let debug = format!("{e:?}");
    assert!(!debug.contains("loops-key"), "{debug}");
    assert!(
        debug.contains("https://inn.gs/e/${LOOPS_API_KEY}"),
        "{debug}"
    );
}

/// Arbitrary files, and the documented one with a line changed or cut: a
/// config either parses or is refused with "file: key: message" lines;
/// parsing never panics.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str) -> Result<(), TestCaseError> {
        match parse(text) {
            Ok(_) => {}
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                prop_assert!(
                    message.contains("/etc/hookwasm/hookwasm.toml"),
                    "{}",
                    message
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        #[test]
        fn any_text_parses_or_is_refused_clearly(text in "\\PC{0,300}") {
            check(&text)?;
        }

        #[test]
        fn a_changed_line_parses_or_is_refused_clearly(
            line in any::<prop::sample::Index>(),
            replacement in prop_oneof![
                "[a-z_]{1,12} = [0-9]{1,6}",
                "[a-z_]{1,12} = \"\\PC{0,20}\"",
                "\\[\\[?[a-z.]{1,12}\\]\\]?",
                "[ -~]{0,40}",
                Just(String::new()),
            ],
            cut in any::<prop::sample::Index>(),
        ) {
            let mut lines: Vec<String> = BASE.lines().map(str::to_string).collect();
            let i = line.index(lines.len());
            lines[i] = replacement;
            check(&lines.join("\n"))?;
            let text = BASE;
            let mut end = cut.index(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            check(&text[..end])?;
        }
    }
}

#[test]
fn a_type_error_names_its_key() {
    let text = BASE.replace("rate_limit_per_sec = 10", "rate_limit_per_sec = \"10\"");
    let err = problems(&text);
    assert!(err.contains("rate_limit_per_sec: invalid type"), "{err}");
}

#[test]
fn an_endpoint_rate_out_of_bounds_is_refused() {
    for rate in ["0", "0.0001", "1e7", "-1"] {
        let text = BASE.replace(
            "rate_limit_per_sec = 10",
            &format!("rate_limit_per_sec = {rate}"),
        );
        let err = problems(&text);
        assert!(
            err.contains("rate_limit_per_sec") && err.contains("between 0.001 and 1000000"),
            "{rate}: {err}"
        );
    }
    let text = BASE.replace("rate_limit_per_sec = 10", "rate_limit_per_sec = 0.001");
    assert!(parse(&text).is_ok());
}

#[test]
fn an_empty_file_is_ok_with_a_warning() {
    let c = parse("").unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("defines no sources and no endpoints")),
        "{:?}",
        c.warnings
    );
    assert!(
        !parse(BASE)
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("defines no"))
    );
}

#[test]
fn a_misspelt_event_type_is_warned_about_with_the_closest_one() {
    let text = BASE.replace(
        "\"payment.succeeded\", \"dispute.*\"",
        "\"paymnt.succeeded\", \"dispute.*\", \"nope.*\"",
    );
    let c = parse(&text).unwrap();
    let w = c.warnings.join("\n");
    assert!(
        w.contains("\"paymnt.succeeded\"") && w.contains("did you mean \"payment.succeeded\"?"),
        "{w}"
    );
    assert!(w.contains("\"nope.*\" matches no"), "{w}");
    assert!(!w.contains("dispute.*"), "{w}");
    assert!(
        parse(BASE).unwrap().warnings.is_empty(),
        "{:?}",
        parse(BASE).unwrap().warnings
    );
}

#[test]
fn a_private_destination_is_warned_about_unless_allowed() {
    let private = BASE.replace(
        "plugin = \"loops\"",
        "plugin = \"loops\"\nurl = \"http://192.168.1.20:8288/e/key\"",
    );
    let w = parse(&private).unwrap().warnings.join("\n");
    assert!(
        w.contains("192.168.1.20 is a private address")
            && w.contains("allow_private_destinations = true"),
        "{w}"
    );
    let localhost = private.replace("192.168.1.20", "localhost");
    assert!(
        parse(&localhost)
            .unwrap()
            .warnings
            .join("\n")
            .contains("localhost is a private address")
    );
    let allowed = format!("[server]\nallow_private_destinations = true\n{private}");
    assert!(parse(&allowed).unwrap().warnings.is_empty());
}

#[test]
fn an_empty_variable_is_reported_as_empty_not_unset() {
    let empty = |name: &str| match name {
        "LOOPS_API_KEY" => Some(String::new()),
        other => env(other),
    };
    let c = Config::parse(Path::new("/etc/hookwasm/hookwasm.toml"), BASE, &empty).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("LOOPS_API_KEY is set but empty")),
        "{:?}",
        c.warnings
    );
}

/// The keys serde accepts in `snippet`'s innermost table, read from the
/// error an unknown key gets (serde lists every field it expected).
fn accepted_keys(snippet: &str) -> Vec<String> {
    let err = toml::from_str::<raw::File>(snippet)
        .expect_err(snippet)
        .message()
        .to_string();
    // serde: "expected one of `a`, `b`"; toml, for some inline tables:
    // "available keys: a, b".
    let keys: Vec<String> = if let Some((_, listed)) = err.split_once("available keys: ") {
        listed.split(", ").map(|k| k.trim().to_string()).collect()
    } else {
        err.split_once("expected one of ")
            .or_else(|| err.split_once("expected "))
            .map(|(_, l)| l.to_string())
            .unwrap_or_default()
            .replace(" or ", ", ")
            .split(", ")
            .filter_map(|k| {
                k.trim()
                    .strip_prefix('`')?
                    .strip_suffix('`')
                    .map(str::to_string)
            })
            .collect()
    };
    assert!(!keys.is_empty(), "no key list in {err:?} for {snippet}");
    keys
}

/// docs/configuration.md documents every key the config file accepts: a
/// key added to the config types without a line there fails this test.
#[test]
fn every_config_key_is_in_the_reference() {
    let page = include_str!("../../../docs/configuration.md");
    let endpoint = "[[endpoints]]\nsource = \"s\"\nevents = [\"*\"]\n";
    let snippets = [
        ("top level", "zz_unknown = 1\n".to_string()),
        ("[server]", "[server]\nzz_unknown = 1\n".to_string()),
        ("[admin]", "[admin]\nzz_unknown = 1\n".to_string()),
        ("[retention]", "[retention]\nzz_unknown = 1\n".to_string()),
        ("[runtime]", "[runtime]\nzz_unknown = 1\n".to_string()),
        ("[delivery]", "[delivery]\nzz_unknown = 1\n".to_string()),
        ("[store]", "[store]\nzz_unknown = 1\n".to_string()),
        (
            "[sources.NAME]",
            "[sources.s]\nzz_unknown = 1\n".to_string(),
        ),
        ("kind", "[sources.s]\nkind = \"zz-unknown\"\n".to_string()),
        (
            "kind.hmac",
            "[sources.s]\nkind = { hmac = { header = \"x\", zz_unknown = 1 } }\n".to_string(),
        ),
        ("[[endpoints]]", format!("{endpoint}zz_unknown = 1\n")),
        (
            "limits",
            format!("{endpoint}limits = {{ zz_unknown = 1 }}\n"),
        ),
        ("retry", format!("{endpoint}retry = {{ zz_unknown = 1 }}\n")),
        (
            "auth",
            format!("{endpoint}auth = {{ zz_unknown = \"x\" }}\n"),
        ),
        (
            "auth.basic",
            format!("{endpoint}auth = {{ basic = {{ zz_unknown = \"x\" }} }}\n"),
        ),
        (
            "auth.header",
            format!("{endpoint}auth = {{ header = {{ zz_unknown = \"x\" }} }}\n"),
        ),
        (
            "auth.oauth2",
            format!("{endpoint}auth = {{ oauth2 = {{ zz_unknown = \"x\" }} }}\n"),
        ),
        ("tls", format!("{endpoint}tls = {{ zz_unknown = \"x\" }}\n")),
        (
            "transformation",
            format!("{endpoint}transformation = {{ zz_unknown = \"x\" }}\n"),
        ),
    ];
    let mut missing = Vec::new();
    for (table, snippet) in &snippets {
        for key in accepted_keys(snippet) {
            if !page.contains(&format!("`{key}`")) {
                missing.push(format!("{table}: {key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document: {}",
        missing.join(", ")
    );
}
