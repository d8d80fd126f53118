//! Dashboard sign-in sessions: an opaque random id in an `HttpOnly`,
//! `SameSite=Strict` cookie, mapped in memory to its expiry and its CSRF
//! token. The admin token itself never leaves the sign-in request: the
//! browser holds only the id, which is worthless once it expires, the user
//! signs out, or the server restarts (sessions are not stored on disk, so a
//! restart signs everyone out).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore as _;
use http::{HeaderMap, header};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "hookwasm_session";

/// The header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions beyond this many are not kept: the oldest is dropped, so a
/// script that signs in in a loop cannot grow memory without bound.
const MAX_SESSIONS: usize = 1000;

struct Session {
    csrf: String,
    expires: Instant,
    created: Instant,
}

/// A live session, as the routes see it.
#[derive(Clone, Debug)]
pub struct Active {
    pub csrf: String,
    /// Seconds left.
    pub expires_in: u64,
}

pub struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session: (its id, for the cookie; its CSRF token).
    pub fn start(&self) -> (String, String) {
        let (id, csrf) = (random_token(), random_token());
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                expires: now + self.ttl,
                created: now,
            },
        );
        (id, csrf)
    }

    /// The session the request's cookie names, if it is live.
    pub fn of(&self, headers: &HeaderMap) -> Option<Active> {
        let id = cookie(headers)?;
        let now = Instant::now();
        let mut map = self.lock();
        let live = map.get(&id).is_some_and(|s| s.expires > now);
        if !live {
            // An expired one is forgotten as soon as it is presented.
            map.remove(&id);
            return None;
        }
        map.get(&id).map(|s| Active {
            csrf: s.csrf.clone(),
            expires_in: s.expires.saturating_duration_since(now).as_secs(),
        })
    }

    /// Ends the request's session (sign out).
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.lock().remove(&id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave the map half-changed
        // (each change is one insert or remove), so a poisoned lock is used
        // as it is.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a cookie-authenticated request carries its session's CSRF token.
pub fn csrf_matches(session: &Active, headers: &HeaderMap) -> bool {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    !given.is_empty() && bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes()))
}

/// The `Set-Cookie` value that starts a session. `Secure` when the page
/// came over HTTPS (a TLS-terminating proxy in front says so): a cookie
/// marked `Secure` on plain HTTP would never be sent back.
pub fn set_cookie(id: &str, ttl: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that deletes it.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether the browser reached us over HTTPS. The admin listener itself
/// speaks plain HTTP; a proxy that terminates TLS says so in
/// `X-Forwarded-Proto` or `Forwarded`. Trusting the header can only add
/// `Secure` to the cookie, never take it away, so a forged one does no harm.
pub fn is_https(uri: &http::Uri, headers: &HeaderMap) -> bool {
    if uri.scheme_str() == Some("https") {
        return true;
    }
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// Whether the request presents a session cookie at all (live or not).
pub fn has_cookie(headers: &HeaderMap) -> bool {
    cookie(headers).is_some()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// 32 random bytes from the OS, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_cookie(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={id}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, csrf) = sessions.start();
        assert_ne!(id, csrf);
        assert!(id.len() >= 40);
        let active = sessions.of(&with_cookie(&id)).unwrap();
        assert_eq!(active.csrf, csrf);
        assert!(sessions.of(&with_cookie("forged")).is_none());
        assert!(sessions.of(&HeaderMap::new()).is_none());
        sessions.end(&with_cookie(&id));
        assert!(sessions.of(&with_cookie(&id)).is_none());

        let short = Sessions::new(Duration::from_millis(1));
        let (id, _) = short.start();
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.of(&with_cookie(&id)).is_none());
    }

    #[test]
    fn the_csrf_token_must_match_its_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, csrf) = sessions.start();
        let active = sessions.of(&with_cookie(&id)).unwrap();
        let mut h = HeaderMap::new();
        assert!(!csrf_matches(&active, &h));
        h.insert(CSRF_HEADER, HeaderValue::from_static("wrong"));
        assert!(!csrf_matches(&active, &h));
        h.insert(CSRF_HEADER, HeaderValue::from_str(&csrf).unwrap());
        assert!(csrf_matches(&active, &h));
    }

    #[test]
    fn cookies_are_strict_and_secure_only_over_https() {
        let c = set_cookie("abc", Duration::from_secs(10), false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=10")
        );
        assert!(!c.contains("Secure"));
        assert!(set_cookie("abc", Duration::from_secs(10), true).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        let uri: http::Uri = "/v1/session".parse().unwrap();
        assert!(!is_https(&uri, &h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(is_https(&uri, &h));
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(Duration::from_secs(60));
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.start();
        }
        assert!(sessions.lock().len() <= MAX_SESSIONS);
    }
}
