//! The dashboard, in a real browser against the real binary: headless
//! Chromium driven over WebDriver (chromedriver, started here on a free
//! port). Controls are found by their visible label or text, as a user or a
//! script would find them. The same run writes the README's screenshots
//! (`docs/images/dashboard-*.png`). Where Chromium or chromedriver is
//! missing the browser test prints why and skips, unless
//! `HOOKWASM_TEST_BROWSER=required` (as `.ci/run` sets). The session and
//! CSRF rules are also checked with a plain HTTP client, browser or not.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::support::{
    ADMIN_TOKEN, Hookwasm, Sink, admin_get, eventually, fixture, fixtures, free_port, hookwasm_in,
    raw_request,
};

/// Debian's paths (`chromium`, `chromium-driver`); elsewhere, say where
/// they are in `HOOKWASM_TEST_CHROMIUM` and `HOOKWASM_TEST_CHROMEDRIVER`.
fn chromium() -> String {
    std::env::var("HOOKWASM_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("HOOKWASM_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

// --- a plain HTTP client that shows the headers (cookies)

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let bytes = match body {
        Some(b) => {
            builder = builder.header("content-type", "application/json");
            serde_json::to_vec(&b).unwrap()
        }
        None => Vec::new(),
    };
    let client: HttpClient<HttpConnector, Full<Bytes>> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(builder.body(Full::new(Bytes::from(bytes))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())),
    }
}

/// Signs in over HTTP: (the `Cookie` header to send, the CSRF token).
async fn sign_in(server: &Hookwasm) -> (String, String) {
    let a = call(
        "POST",
        &server.admin_url("/v1/session"),
        &[],
        Some(json!({ "token": ADMIN_TOKEN })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let set = a.headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(
        !set.contains(ADMIN_TOKEN),
        "the token is never in the cookie"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    (cookie, a.body["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_need_csrf_for_changes_and_expire() {
    let server = Hookwasm::start_admin(
        "session_ttl_secs = 5",
        "[[endpoints]]\nid = \"sink\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"http://127.0.0.1:9/e\"\n",
    )
    .await;

    // The page itself loads without a token, with its security headers.
    let page = call("GET", &server.admin_url("/"), &[], None).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    // The API does not.
    assert_eq!(
        call("GET", &server.admin_url("/v1/endpoints"), &[], None)
            .await
            .status,
        401
    );

    // A wrong token: refused with a clear message.
    let wrong = call(
        "POST",
        &server.admin_url("/v1/session"),
        &[],
        Some(json!({ "token": "not-the-token-at-all" })),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body["error"]
            .as_str()
            .unwrap()
            .contains("not the admin token"),
        "{}",
        wrong.body
    );
    assert!(wrong.headers.get("set-cookie").is_none());

    // A cross-origin form cannot sign a browser in to our session (login
    // CSRF): it can only send text/plain or form bodies, not JSON.
    let (status, _) = raw_request(
        "POST",
        &server.admin_url("/v1/session"),
        &[("content-type".to_string(), "text/plain".to_string())],
        format!(r#"{{"token":"{ADMIN_TOKEN}"}}"#).into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(status, 415);

    let (cookie, csrf) = sign_in(&server).await;
    let reads = call(
        "GET",
        &server.admin_url("/v1/endpoints"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(reads.status, 200, "{}", reads.body);
    // The editor's starting points: the `plugin new` handler, then Dodo's
    // seed examples.
    let examples = call(
        "GET",
        &server.admin_url("/v1/examples"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    let items = examples.body["items"].as_array().unwrap();
    assert_eq!(items[0]["destination"], "js");
    assert!(!items[0]["code"].as_str().unwrap().contains("{{"));
    assert!(
        items
            .iter()
            .any(|e| e["name"] == "loops.payment_confirmation")
    );
    // A dry run of an endpoint not created yet: nothing is created.
    let draft = call(
        "POST",
        &server.admin_url("/v1/test"),
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(json!({
            "endpoint": {"source": "dodo", "events": ["*"], "url": "http://127.0.0.1:9/x",
                         "transformation": {"code": "function handler(webhook) {\n  webhook.payload = {n: webhook.payload.data.total_amount};\n  return webhook;\n}"}},
            "event_type": "payment.succeeded"
        })),
    )
    .await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    assert_eq!(draft.body["outcome"], "deliver", "{}", draft.body);
    assert!(
        draft.body["request"]["body"]["n"].is_number(),
        "{}",
        draft.body
    );

    // A fresh session for the checks below, so that the dry run above
    // (which may compile the JavaScript engine on a cold cache) cannot use
    // up its 5 seconds.
    let (cookie, csrf) = sign_in(&server).await;
    let listed = call(
        "GET",
        &server.admin_url("/v1/endpoints"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    // A change with the cookie but without the CSRF token: 403, one line of JSON.
    let url = server.admin_url("/v1/endpoints/sink/disable");
    let forged = call("POST", &url, &[("cookie", &cookie)], Some(json!({}))).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(
        forged.body["error"].as_str().unwrap().contains("CSRF"),
        "{}",
        forged.body
    );
    let wrong_csrf = call(
        "POST",
        &url,
        &[("cookie", &cookie), ("x-csrf-token", "guess")],
        Some(json!({})),
    )
    .await;
    assert_eq!(wrong_csrf.status, 403);
    let ok = call(
        "POST",
        &url,
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(json!({})),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Another session's token does not do.
    let (other_cookie, other_csrf) = sign_in(&server).await;
    let crossed = call(
        "POST",
        &server.admin_url("/v1/endpoints/sink/enable"),
        &[("cookie", &cookie), ("x-csrf-token", &other_csrf)],
        Some(json!({})),
    )
    .await;
    assert_eq!(crossed.status, 403);

    // Sign out ends the session on the server, and deletes the cookie.
    let out = call(
        "DELETE",
        &server.admin_url("/v1/session"),
        &[("cookie", &other_cookie), ("x-csrf-token", &other_csrf)],
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = call(
        "GET",
        &server.admin_url("/v1/endpoints"),
        &[("cookie", &other_cookie)],
        None,
    )
    .await;
    assert_eq!(after.status, 401);

    // The session expires (session_ttl_secs = 5).
    let (cookie, _) = sign_in(&server).await;
    let live = call(
        "GET",
        &server.admin_url("/v1/session"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(live.status, 200);
    assert!(live.body["expires_in_secs"].as_u64().unwrap() <= 5);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let expired = call(
        "GET",
        &server.admin_url("/v1/session"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(expired.status, 401, "{}", expired.body);
    assert!(
        expired.body["error"]
            .as_str()
            .unwrap()
            .contains("sign in again")
    );
}

// --- the browser

struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
    client: Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium under chromedriver, or why not (then the test skips, unless
/// the environment says a browser is required).
async fn browser() -> Option<Driver> {
    let required = std::env::var("HOOKWASM_TEST_BROWSER").as_deref() == Ok("required");
    let (chromium, chromedriver) = (chromium(), chromedriver());
    let missing: Vec<&str> = [chromium.as_str(), chromedriver.as_str()]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        assert!(!required, "HOOKWASM_TEST_BROWSER=required, but {why}");
        eprintln!("skipped the dashboard's browser test: {why}");
        return None;
    }
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--window-size=1280,900".into(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
        }
    };
    Some(Driver {
        child,
        _profile: profile,
        client,
    })
}

/// XPath string literal for `text` (no quotes of both kinds in our labels).
fn lit(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

struct Page<'a> {
    c: &'a Client,
}

impl Page<'_> {
    async fn find(&self, xpath: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            // Generous: the first Test compiles the JavaScript engine when
            // the plugin cache is cold, on a CI machine busy with the rest of
            // the suite.
            .at_most(Duration::from_secs(90))
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                // What the page showed instead, for whoever reads the failure.
                let shot = std::env::temp_dir().join("hookwasm-dashboard-failure.png");
                if let Ok(png) = self.c.screenshot().await {
                    let _ = std::fs::write(&shot, png);
                }
                let text = self.body_text().await;
                panic!(
                    "no element {xpath}: {e}\npage text:\n{text}\n(screenshot: {})",
                    shot.display()
                )
            }
        }
    }

    /// A button (or a link) by its visible text.
    async fn button(&self, text: &str) -> fantoccini::elements::Element {
        self.find(&format!(
            "//*[self::button or self::a][normalize-space(.)={}]",
            lit(text)
        ))
        .await
    }

    async fn click(&self, text: &str) {
        self.button(text).await.click().await.unwrap();
    }

    /// The control a visible `<label>` names.
    async fn field(&self, label: &str) -> fantoccini::elements::Element {
        let l = self
            .find(&format!("//label[normalize-space(.)={}]", lit(label)))
            .await;
        let id = l
            .attr("for")
            .await
            .unwrap()
            .expect("the label names its control");
        self.find(&format!("//*[@id={}]", lit(&id))).await
    }

    async fn fill(&self, label: &str, value: &str) {
        let f = self.field(label).await;
        f.clear().await.unwrap();
        f.send_keys(value).await.unwrap();
    }

    /// Sets a textarea's whole text at once (typing a script key by key
    /// is slow), then tells the page it changed.
    async fn set_code(&self, label: &str, code: &str) {
        let f = self.field(label).await;
        let arg = serde_json::to_value(&f).unwrap();
        self.c
            .execute(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
                vec![arg, json!(code)],
            )
            .await
            .unwrap();
    }

    async fn choose(&self, label: &str, option: &str) {
        self.field(label)
            .await
            .select_by_label(option)
            .await
            .unwrap_or_else(|e| panic!("{label}: no option {option}: {e}"));
    }

    /// Waits until the page shows `text` somewhere.
    async fn sees(&self, text: &str) {
        self.find(&format!("//*[contains(normalize-space(.), {})]", lit(text)))
            .await;
    }

    async fn body_text(&self) -> String {
        match self.c.find(Locator::XPath("//main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn shot(&self, name: &str) {
        // Let a repaint after the last change land first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.c.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("dashboard-{name}.png")), png).unwrap();
    }
}

/// Dodo's Loops example without its `webhook.url` line (the host refuses a
/// request that leaves the endpoint URL's origin, here the local sink).
fn fixed_handler(seed: &str) -> String {
    seed.lines()
        .filter(|l| !l.contains("webhook.url ="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_in_a_browser_adds_an_endpoint_sees_deliveries_and_replays_a_dead_letter() {
    let Some(driver) = browser().await else {
        return;
    };
    let failing = Arc::new(AtomicBool::new(false));
    let sink = {
        let failing = failing.clone();
        Sink::start(move |_, _| {
            if failing.load(Ordering::SeqCst) {
                (
                    400,
                    vec![],
                    r#"{"message":"bad request (the test's sink is failing)"}"#.into(),
                )
            } else {
                (200, vec![], r#"{"success":true}"#.into())
            }
        })
        .await
    };
    let server = Hookwasm::start("").await;
    // An event recorded before any endpoint exists: Test runs on it.
    let (recorded_id, body) = fixture("payment.succeeded");
    let (status, _) = server.post_signed("dodo", &recorded_id, &body).await;
    assert_eq!(status, 200);

    let c = &driver.client;
    let page = Page { c };
    c.goto(&server.admin_url("/")).await.unwrap();

    // A wrong token is refused, clearly.
    page.fill("Admin token", "certainly-not-the-token").await;
    page.click("Sign in").await;
    page.sees("Wrong admin token.").await;
    // The right one signs in; the cookie is HttpOnly, so the page's script
    // cannot read it (and there is nothing in localStorage).
    page.fill("Admin token", ADMIN_TOKEN).await;
    page.click("Sign in").await;
    page.button("Sign out").await;
    for link in ["Overview", "Endpoints", "Events", "Dead letters", "Plugins"] {
        page.button(link).await;
    }
    let visible = c
        .execute(
            "return document.cookie + '|' + window.localStorage.length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        visible,
        json!("|0"),
        "no cookie or storage visible to scripts"
    );

    // Add endpoint → the Loops card → its API key.
    page.click("Endpoints").await;
    page.click("Add endpoint").await;
    for card in ["Loops", "Customer.io", "Windmill", "Inngest", "JavaScript"] {
        page.find(&format!(
            "//button[.//strong[normalize-space(.)={}]]",
            lit(card)
        ))
        .await;
    }
    page.shot("add-endpoint").await;
    page.find("//button[.//strong[normalize-space(.)='Loops']]")
        .await
        .click()
        .await
        .unwrap();
    page.fill("Endpoint id (optional)", "loops-js").await;
    page.fill("API URL", &sink.url("/v1/events/send")).await;
    page.fill("API key", "lk_test_0123456789").await;
    page.fill("Events", "payment.succeeded").await;

    // Switch to a JavaScript transformation: the editor starts with Dodo's
    // Loops example.
    page.choose("Transformation", "JavaScript").await;
    let editor = page.field("JavaScript handler").await;
    let seed = editor.prop("value").await.unwrap().unwrap_or_default();
    assert!(seed.contains("payment_confirmation"), "{seed}");

    // Break it: the error names its line.
    let broken = seed.replacen(
        "const p = webhook.payload.data;",
        "const p = webhook.payload.data.;",
        1,
    );
    page.set_code("JavaScript handler", &broken).await;
    page.click("Test").await;
    page.sees("Error on line 3").await;

    // Fix it; Test on a sample, then on the recorded event.
    page.set_code("JavaScript handler", &fixed_handler(&seed))
        .await;
    page.choose("Test on", "Sample: payment.succeeded").await;
    page.click("Test").await;
    page.sees(&format!("POST {}", sink.url("/v1/events/send")))
        .await;
    page.sees("payment_confirmation").await;
    page.sees("Fuel").await;
    // The editor and the result in one picture: a taller window, scrolled
    // to the editor.
    c.set_window_size(1280, 1900).await.unwrap();
    let arg = serde_json::to_value(page.field("JavaScript handler").await).unwrap();
    c.execute(
        "arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -90);",
        vec![arg],
    )
    .await
    .unwrap();
    page.shot("js-editor").await;
    c.set_window_size(1280, 900).await.unwrap();
    let (_, recorded) = admin_get(&server, &format!("/v1/events/{recorded_id}")).await;
    let recorded_evt = recorded["id"].as_str().unwrap().to_string();
    let option = page
        .find(&format!("//option[contains(., {})]", lit(&recorded_evt)))
        .await;
    let label = option.text().await.unwrap();
    page.choose("Test on", &label).await;
    page.click("Test").await;
    page.sees(&format!("({recorded_evt})")).await;
    assert_eq!(sink.count(), 0, "a test sends nothing");

    page.click("Create endpoint").await;
    page.sees("Endpoint loops-js").await;
    let (_, endpoint) = admin_get(&server, "/v1/endpoints/loops-js").await;
    assert_eq!(endpoint["plugin"]["name"], "js");
    assert_eq!(endpoint["auth"]["bearer"]["last4"], "6789");

    // Its page: a new version of the code, its diff, a rollback; disable
    // and enable.
    let edited = fixed_handler(&seed).replace("\"payment_confirmation\"", "\"payment_confirmed\"");
    page.set_code("JavaScript handler (version 1)", &edited)
        .await;
    page.click("Save as a new version").await;
    page.field("JavaScript handler (version 2)").await;
    page.click("Diff v1").await;
    page.sees(r#"- eventName: "payment_confirmation","#).await;
    page.sees(r#"+ eventName: "payment_confirmed","#).await;
    page.click("Roll back to v1").await;
    page.field("JavaScript handler (version 3)").await;
    let (_, current) = admin_get(&server, "/v1/endpoints/loops-js/transformation").await;
    assert!(
        current["code"]
            .as_str()
            .unwrap()
            .contains("\"payment_confirmation\"")
    );
    page.click("Disable").await;
    page.click("Enable").await;
    page.button("Disable").await;
    let (_, endpoint) = admin_get(&server, "/v1/endpoints/loops-js").await;
    assert_eq!(endpoint["enabled"], true);

    // `hookwasm send` an event: delivered, and the Events page shows it.
    let event = fixtures().join("dodo/payment.succeeded.json");
    let config_path = server.config_path().display().to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        hookwasm_in(
            &[
                "send",
                &event.display().to_string(),
                "--config",
                &config_path,
                "--id",
                "msg_dash_1",
            ],
            std::path::Path::new("/"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(got[0].headers["authorization"], "Bearer lk_test_0123456789");
    assert_eq!(got[0].json()["eventName"], "payment_confirmation");
    let (_, sent) = admin_get(&server, "/v1/events/msg_dash_1").await;
    let sent_evt = sent["id"].as_str().unwrap().to_string();
    page.click("Events").await;
    // The listing shows where each event went.
    page.find(&format!(
        "//tr[.//a[normalize-space(.)={}]]//li[contains(., 'loops-js')]//span[normalize-space(.)='delivered']",
        lit(&sent_evt)
    ))
    .await;
    page.shot("events").await;
    page.click(&sent_evt).await;
    page.find("//h3[.//a[normalize-space(.)='loops-js']]//span[normalize-space(.)='delivered']")
        .await;
    page.sees("Stored request (auth redacted)").await;
    assert!(!page.body_text().await.contains("lk_test_0123456789"));

    // The sink fails (400: no retry): a dead letter. Replay it once the
    // sink is healthy again: delivered.
    failing.store(true, Ordering::SeqCst);
    let (status, _) = server.post_signed("dodo", "msg_dash_2", &body).await;
    assert_eq!(status, 200);
    let dead = eventually("a dead letter", Duration::from_secs(60), async || {
        let (_, list) = admin_get(&server, "/v1/deliveries?status=dead").await;
        list["items"].as_array().and_then(|i| i.first()).cloned()
    })
    .await;
    let dead_id = dead["id"].as_str().unwrap().to_string();
    page.click("Dead letters").await;
    let select = page
        .find(&format!(
            "//input[@type='checkbox'][@aria-label={}]",
            lit(&format!("Select {dead_id}"))
        ))
        .await;
    page.shot("dead-letters").await;
    failing.store(false, Ordering::SeqCst);
    select.click().await.unwrap();
    page.click("Replay").await;
    page.sees("Replay: 1 queued").await;
    eventually(
        "the replayed delivery",
        Duration::from_secs(60),
        async || {
            let (_, d) = admin_get(&server, &format!("/v1/deliveries/{dead_id}")).await;
            (d["status"] == "delivered").then_some(())
        },
    )
    .await;
    page.click("Events").await;
    page.choose("Status", "delivered").await;
    page.click("Filter").await;
    page.find(&format!(
        "//tr[.//a[normalize-space(.)='loops-js']][.//span[normalize-space(.)='delivered']][.//a[contains(@href, {})]]",
        lit(dead["event_id"].as_str().unwrap())
    ))
    .await;

    // The endpoint's repairs: recover a window's dead letters (none left),
    // and send a sample for real.
    page.click("loops-js").await;
    page.click("Recover dead letters").await;
    page.sees("Recover: done").await;
    page.click("Send sample").await;
    page.sees("Sample sent as").await;
    sink.wait_for(4, Duration::from_secs(60)).await;

    // The overview charts (two samples make a line), and the plugins page.
    page.click("Overview").await;
    page.sees("Events received").await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    page.shot("overview").await;
    page.click("Plugins").await;
    page.sees("JavaScript").await;

    // A phone's width: one column, nothing wider than the screen but the
    // tables, which scroll inside their own box.
    c.set_window_size(390, 844).await.unwrap();
    page.click("Endpoints").await;
    page.button("Add endpoint").await;
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page is wider than a phone: {overflow}"
    );
    c.set_window_size(1280, 900).await.unwrap();

    // Sign out: back to the sign-in form.
    page.click("Sign out").await;
    page.sees("Signed out.").await;
    c.goto(&server.admin_url("/")).await.unwrap();
    page.field("Admin token").await;

    // A session expires: on a server whose sessions last 3 seconds, the
    // next request after that sends the page back to the sign-in form.
    let short = Hookwasm::start_admin("session_ttl_secs = 3", "").await;
    c.goto(&short.admin_url("/")).await.unwrap();
    page.fill("Admin token", ADMIN_TOKEN).await;
    page.click("Sign in").await;
    page.button("Sign out").await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    page.click("Endpoints").await;
    page.sees("Your session has expired. Sign in again.").await;
    page.field("Admin token").await;
    driver.client.clone().close().await.unwrap();
}
