//! The dashboard's files, embedded in the binary and served at `/` by the
//! admin listener: one HTML page, one script, one stylesheet, an icon. No
//! build step and nothing fetched from elsewhere; the page talks only to the
//! admin API on the same origin, signed in with a session (`session`).
//! Every answer carries a strict Content-Security-Policy (no inline script
//! or style, nothing from another origin, no framing).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, header};

use super::Admin;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");
const ICON: &str = include_str!("icon.svg");

/// (path, content type, body)
const FILES: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", INDEX),
    ("/assets/app.js", "text/javascript; charset=utf-8", SCRIPT),
    ("/assets/app.css", "text/css; charset=utf-8", STYLE),
    ("/assets/icon.svg", "image/svg+xml", ICON),
];

/// `connect-src 'self'`: the script reaches the admin API on this origin
/// only; `img-src data:` is not needed (charts are SVG built in the DOM).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Whether `path` is one of the dashboard's files (served without a token:
/// the sign-in page must load before there is a session).
pub fn is_page(path: &str) -> bool {
    FILES.iter().any(|(p, _, _)| *p == path)
}

pub fn routes() -> axum::Router<Arc<Admin>> {
    let mut router = axum::Router::new();
    for (path, content_type, body) in FILES {
        router = router.route(path, get(move || async move { file(content_type, body) }));
    }
    router
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    // The files change only with the binary; revalidating is cheap and
    // keeps a browser from mixing an old script with a new server.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_inline_or_from_elsewhere() {
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
        assert!(INDEX.contains(r#"<script src="/assets/app.js""#));
        // Nothing is loaded from another origin (the SVG namespace is a
        // name, not a request).
        for text in [INDEX, SCRIPT, STYLE] {
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        assert!(!SCRIPT.contains("localStorage"));
        assert!(
            !SCRIPT.contains("innerHTML"),
            "build the DOM, never parse strings into it"
        );
    }

    #[test]
    fn the_files_are_small() {
        let total: usize = FILES.iter().map(|(_, _, b)| b.len()).sum();
        assert!(total < 300 * 1024, "{total} bytes uncompressed");
    }
}
