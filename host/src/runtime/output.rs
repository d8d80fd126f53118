//! Checks a plugin's request before the host stores or sends it: a plugin is
//! untrusted, so its output is input.

use http::header::{HeaderName, HeaderValue};

use super::bindings;
use crate::model::OutboundRequest;

/// What a plugin's request must satisfy for one endpoint.
#[derive(Clone, Debug, Default)]
pub struct OutputPolicy {
    /// The largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// When set, the request URL must have exactly this origin (the
    /// endpoint's configured URL, or the plugin's declared default), so a
    /// plugin cannot send data anywhere else.
    pub origin: Option<url::Origin>,
}

impl OutputPolicy {
    pub const DEFAULT_MAX_BODY: usize = 1 << 20;

    /// The policy for an endpoint whose URL (or plugin default) is `base`.
    pub fn for_base(base: Option<&str>, max_body_bytes: usize) -> Self {
        OutputPolicy {
            max_body_bytes,
            origin: base
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| u.origin())
                .filter(url::Origin::is_tuple),
        }
    }
}

/// Headers the host owns: it computes them, or they would let a plugin
/// smuggle a second request onto the connection.
const HOST_OWNED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];
const MAX_URL_BYTES: usize = 8 << 10;
const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 64 << 10;

pub fn validate(req: bindings::Request, policy: &OutputPolicy) -> Result<OutboundRequest, String> {
    let method = http::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
        format!(
            "method {:?} is not a valid HTTP method token",
            clip(&req.method)
        )
    })?;

    if req.url.len() > MAX_URL_BYTES {
        return Err(format!(
            "url is {} bytes, over the {MAX_URL_BYTES}-byte limit",
            req.url.len()
        ));
    }
    let url = url::Url::parse(&req.url)
        .map_err(|e| format!("url {:?} is not an absolute URL: {e}", clip(&req.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "url {:?} must be an absolute http or https URL",
            clip(&req.url)
        ));
    }
    // `http::Uri` is what the client sends; make sure it agrees.
    if req.url.parse::<http::Uri>().is_err() {
        return Err(format!(
            "url {:?} is not a valid request URI",
            clip(&req.url)
        ));
    }
    if let Some(origin) = &policy.origin
        && &url.origin() != origin
    {
        return Err(format!(
            "url {:?} leaves the endpoint's origin {}; a plugin may only send to the endpoint's own host",
            clip(&req.url),
            origin.ascii_serialization()
        ));
    }

    if req.headers.len() > MAX_HEADERS {
        return Err(format!(
            "{} headers, over the limit of {MAX_HEADERS}",
            req.headers.len()
        ));
    }
    let mut header_bytes = 0;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
            format!(
                "header name {:?} is not a valid HTTP header name",
                clip(&h.name)
            )
        })?;
        if HOST_OWNED.contains(&name.as_str()) {
            return Err(format!(
                "header {:?} is set by the host, not by plugins",
                name.as_str()
            ));
        }
        HeaderValue::from_str(&h.value).map_err(|_| {
            format!(
                "header {:?} has a value with control characters (CR, LF or NUL are never allowed): {:?}",
                name.as_str(),
                clip(&h.value)
            )
        })?;
        header_bytes += name.as_str().len() + h.value.len();
        headers.push((name.as_str().to_owned(), h.value));
    }
    if header_bytes > MAX_HEADER_BYTES {
        return Err(format!(
            "headers total {header_bytes} bytes, over the {MAX_HEADER_BYTES}-byte limit"
        ));
    }

    if req.body.len() > policy.max_body_bytes {
        return Err(format!(
            "body is {} bytes, over the {}-byte limit",
            req.body.len(),
            policy.max_body_bytes
        ));
    }

    Ok(OutboundRequest {
        method: method.as_str().to_owned(),
        url: url.into(),
        headers,
        body: req.body,
    })
}

/// Keeps error messages one readable line even when a plugin returns junk.
fn clip(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindings::{Header, Request};

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            body: body.to_vec(),
        }
    }

    fn policy(base: Option<&str>) -> OutputPolicy {
        OutputPolicy::for_base(base, 1024)
    }

    #[test]
    fn accepts_a_plain_json_post_and_lowercases_names() {
        let ok = validate(
            req(
                "POST",
                "https://app.loops.so/api/v1/events/send",
                &[("Content-Type", "application/json")],
                b"{}",
            ),
            &policy(Some("https://app.loops.so/api/v1/events/send")),
        )
        .unwrap();
        assert_eq!(
            ok.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(ok.method, "POST");
    }

    #[test]
    fn refuses_header_injection() {
        let err = validate(
            req(
                "POST",
                "https://x.test/",
                &[("x-evil", "a\r\nx-injected: 1")],
                b"",
            ),
            &policy(None),
        )
        .unwrap_err();
        assert!(err.contains("control characters"), "{err}");
        let err = validate(
            req("POST", "https://x.test/", &[("bad name", "v")], b""),
            &policy(None),
        )
        .unwrap_err();
        assert!(err.contains("header name"), "{err}");
    }

    #[test]
    fn refuses_host_owned_headers() {
        for name in ["Host", "content-length", "Transfer-Encoding", "connection"] {
            let err = validate(
                req("POST", "https://x.test/", &[(name, "1")], b""),
                &policy(None),
            )
            .unwrap_err();
            assert!(err.contains("set by the host"), "{name}: {err}");
        }
    }

    #[test]
    fn refuses_bad_methods_and_urls() {
        assert!(validate(req("PO ST", "https://x.test/", &[], b""), &policy(None)).is_err());
        assert!(validate(req("", "https://x.test/", &[], b""), &policy(None)).is_err());
        for url in [
            "/relative",
            "ftp://x.test/",
            "file:///etc/passwd",
            "https://",
            "not a url",
            "mailto:a@b.c",
        ] {
            assert!(
                validate(req("POST", url, &[], b""), &policy(None)).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn keeps_the_endpoint_origin() {
        let p = policy(Some("https://inn.gs/e/KEY"));
        assert!(validate(req("POST", "https://inn.gs/e/OTHER?x=1", &[], b""), &p).is_ok());
        for url in [
            "https://evil.example/e/KEY",
            "http://inn.gs/e/KEY",
            "https://inn.gs:8443/e/KEY",
        ] {
            let err = validate(req("POST", url, &[], b""), &p).unwrap_err();
            assert!(
                err.contains("leaves the endpoint's origin https://inn.gs"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn caps_the_body() {
        assert!(
            validate(
                req("POST", "https://x.test/", &[], &[b'a'; 1024]),
                &policy(None)
            )
            .is_ok()
        );
        let err = validate(
            req("POST", "https://x.test/", &[], &[b'a'; 1025]),
            &policy(None),
        )
        .unwrap_err();
        assert!(err.contains("body is 1025 bytes"), "{err}");
    }

    #[test]
    fn clips_long_junk_in_messages() {
        let long = "é".repeat(500);
        let err = validate(req(&long, "https://x.test/", &[], b""), &policy(None)).unwrap_err();
        assert!(err.len() < 300, "{err}");
    }
}

/// Arbitrary plugin output: validation never panics, and whatever it
/// accepts is safe to send (the endpoint's origin, no header injection,
/// no framing headers, bounded body).
#[cfg(test)]
mod fuzz {
    use super::*;
    use bindings::{Header, Request};
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            "[ -~\r\n\t]{0,40}",
            Just("POST".to_string()),
            Just("https://hooks.example.com/in?x=1".to_string()),
            Just("https://hooks.example.com.evil.test/in".to_string()),
            Just("http://hooks.example.com/in".to_string()),
            Just("content-length".to_string()),
            Just("Host".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_output_is_refused_or_safe(
            method in text(),
            url in text(),
            headers in prop::collection::vec((text(), text()), 0..6),
            body in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let policy = OutputPolicy::for_base(Some("https://hooks.example.com/base"), 256);
            let request = Request {
                method,
                url,
                headers: headers.into_iter().map(|(name, value)| Header { name, value }).collect(),
                body,
            };
            if let Ok(valid) = validate(request, &policy) {
                let parsed = url::Url::parse(&valid.url).unwrap();
                prop_assert_eq!(parsed.origin(), url::Url::parse("https://hooks.example.com/").unwrap().origin());
                prop_assert!(valid.body.len() <= 256);
                for (name, value) in &valid.headers {
                    prop_assert!(!value.contains(['\r', '\n']));
                    prop_assert!(HeaderName::from_bytes(name.as_bytes()).is_ok());
                    prop_assert!(!["host", "content-length", "transfer-encoding", "connection"]
                        .contains(&name.to_ascii_lowercase().as_str()));
                }
            }
        }
    }
}
