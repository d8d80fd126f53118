//! The little URL handling plugins need: an endpoint URL's origin, a query
//! parameter added to it, and percent-encoding a value.
//!
//! String-based rather than the `url` crate (with IDNA tables, far larger than
//! a plugin): endpoint URLs come from the operator's config, and the host
//! validates every request URL before sending it anyway.

/// `scheme://host[:port]` of an absolute URL (user info, path, query and
/// fragment dropped), or `None` when `url` has no scheme or no host.
///
/// ```
/// use hookwasm_sdk::url::origin;
/// assert_eq!(origin("https://track-eu.customer.io/api/v2/entity").as_deref(),
///            Some("https://track-eu.customer.io"));
/// assert_eq!(origin("http://localhost:8080?x=1").as_deref(), Some("http://localhost:8080"));
/// assert_eq!(origin("track.customer.io"), None);
/// ```
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (scheme_ok && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// `url` with the query parameter `key=value` (both percent-encoded) at the
/// end of its query. Other parameters are kept in order; an existing `key` is
/// removed first, so the parameter is never sent twice. A `#fragment` stays
/// at the end.
///
/// ```
/// use hookwasm_sdk::url::with_query_param;
/// assert_eq!(with_query_param("https://w.test/run", "job_id", "42"),
///            "https://w.test/run?job_id=42");
/// assert_eq!(with_query_param("https://w.test/run?token=t&job_id=1#top", "job_id", "42"),
///            "https://w.test/run?token=t&job_id=42#top");
/// ```
pub fn with_query_param(url: &str, key: &str, value: &str) -> String {
    let (without_fragment, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let (base, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let key = percent_encode(key);

    let mut out = String::with_capacity(url.len() + key.len() + value.len() + 2);
    out.push_str(base);
    out.push('?');
    for pair in query.split('&') {
        let name = pair.split('=').next().unwrap_or_default();
        if !pair.is_empty() && name != key {
            out.push_str(pair);
            out.push('&');
        }
    }
    out.push_str(&key);
    out.push('=');
    out.push_str(&percent_encode(value));
    out.push_str(fragment);
    out
}

/// `text` with every byte other than RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) percent-encoded: safe in a path segment or a
/// query value.
///
/// ```
/// use hookwasm_sdk::url::percent_encode;
/// assert_eq!(percent_encode("pay_1/é?&"), "pay_1%2F%C3%A9%3F%26");
/// ```
pub fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for (url, expected) in [
            (
                "https://track.customer.io",
                Some("https://track.customer.io"),
            ),
            (
                "https://track.customer.io/",
                Some("https://track.customer.io"),
            ),
            (
                "https://track-eu.customer.io/api/v2/batch",
                Some("https://track-eu.customer.io"),
            ),
            (
                "http://127.0.0.1:9000/x/y?z#w",
                Some("http://127.0.0.1:9000"),
            ),
            ("http://[::1]:9000/x", Some("http://[::1]:9000")),
            (
                "https://user:p@ss@host.test:8443/x",
                Some("https://host.test:8443"),
            ),
            ("https://host.test#frag", Some("https://host.test")),
            ("HTTPS://Host.Test/", Some("HTTPS://Host.Test")),
            ("https://", None),
            ("https:///path", None),
            ("://host", None),
            ("1http://host", None),
            ("ht tp://host", None),
            ("host.test/path", None),
            ("", None),
        ] {
            assert_eq!(origin(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn query_params() {
        for (url, expected) in [
            ("https://w.test/p", "https://w.test/p?job_id=v"),
            ("https://w.test/p?", "https://w.test/p?job_id=v"),
            (
                "https://w.test/p?token=t",
                "https://w.test/p?token=t&job_id=v",
            ),
            (
                "https://w.test/p?token=t&",
                "https://w.test/p?token=t&job_id=v",
            ),
            (
                "https://w.test/p?a=1&&b=2",
                "https://w.test/p?a=1&b=2&job_id=v",
            ),
            (
                "https://w.test/p?job_id=old&token=t",
                "https://w.test/p?token=t&job_id=v",
            ),
            (
                "https://w.test/p?job_id&token=t",
                "https://w.test/p?token=t&job_id=v",
            ),
            (
                "https://w.test/p?job_idx=1",
                "https://w.test/p?job_idx=1&job_id=v",
            ),
            ("https://w.test/p#frag", "https://w.test/p?job_id=v#frag"),
            (
                "https://w.test/p?token=t#f?x=1",
                "https://w.test/p?token=t&job_id=v#f?x=1",
            ),
        ] {
            assert_eq!(with_query_param(url, "job_id", "v"), expected, "{url}");
        }
        assert_eq!(
            with_query_param("https://w.test/", "a b", "c&d=é"),
            "https://w.test/?a%20b=c%26d%3D%C3%A9"
        );
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode(""), "");
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(
            percent_encode(" /?#[]@!$&'()*+,;=%"),
            "%20%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25"
        );
        assert_eq!(percent_encode("\r\n\0"), "%0D%0A%00");
        assert_eq!(percent_encode("🚀"), "%F0%9F%9A%80");
    }
}
