//! Deterministic ids derived from the delivery key, so that a retried or
//! replayed delivery carries the same id and the destination dedupes it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The SHA-256 of `text` in lower-case hex (64 characters): a stable
/// stand-in for a key too long for a destination's limit.
///
/// ```
/// use hookwasm_sdk::ids::sha256_hex;
/// assert_eq!(sha256_hex("abc").len(), 64);
/// assert!(sha256_hex("abc").starts_with("ba7816bf"));
/// ```
pub fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Sha256::digest(text.as_bytes())
        .iter()
        .flat_map(|&b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// Crockford's base32 alphabet, as ULIDs use it.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The largest time a ULID holds: 48 bits of milliseconds (year 10889).
const ULID_MAX_MILLIS: i64 = (1 << 48) - 1;

/// A ULID (26 characters, Crockford base32) whose time part is `unix_millis`
/// and whose "random" part is the first 10 bytes of `sha256(seed)`.
///
/// The same event (same time, same delivery key as `seed`) always gets the
/// same ULID, while ULIDs still sort by event time. `None` when
/// `unix_millis` does not fit a ULID (before 1970 or after year 10889).
///
/// Hand-written (a dozen lines) because the `ulid` crate's generator and
/// randomness are of no use here.
///
/// ```
/// use hookwasm_sdk::ids::ulid;
/// let id = ulid(1736983812482, "test:msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF").unwrap();
/// assert_eq!(id, "01JHP4V6C2BV8JWJ4H3FGGACY8");
/// ```
pub fn ulid(unix_millis: i64, seed: &str) -> Option<String> {
    if !(0..=ULID_MAX_MILLIS).contains(&unix_millis) {
        return None;
    }
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&unix_millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&digest[..10]);
    Some(crockford_base32(u128::from_be_bytes(bytes)))
}

/// 128 bits as 26 base32 digits, most significant first (the first digit
/// carries only the top 3 bits, as in every ULID).
fn crockford_base32(mut value: u128) -> String {
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(value & 0x1f) as usize];
        value >>= 5;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The RFC 4122 namespace for URLs, `6ba7b811-9dad-11d1-80b4-00c04fd430c8`.
pub const NAMESPACE_URL: Uuid = Uuid::NAMESPACE_URL;

/// A name-based UUID (version 5, SHA-1) of `name` in `namespace`, lower-case
/// and hyphenated.
///
/// ```
/// use hookwasm_sdk::ids::{NAMESPACE_URL, uuid_v5};
/// assert_eq!(
///     uuid_v5(NAMESPACE_URL, "test:msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF"),
///     "6aea3ea0-74a2-5571-b870-4fbce76d18b0"
/// );
/// ```
pub fn uuid_v5(namespace: Uuid, name: &str) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Uuid::new_v5(&namespace, name.as_bytes())
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_of_the_fixtures() {
        for (millis, key, expected) in [
            (
                1_736_983_812_482,
                "test:msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF",
                "01JHP4V6C2BV8JWJ4H3FGGACY8",
            ),
            (
                1_736_983_865_901,
                "test:msg_2qH7uC9pL3wE6jT1xQ5rZ8vN4bH",
                "01JHP4WTHD1DDXP70G4RG73NV1",
            ),
            (
                1_740_906_867_550,
                "test:msg_2tN4kF8yH2cR6vM0pX3zL7qW1sJ",
                "01JNB25ATY2RD1229X8GAERJ0W",
            ),
        ] {
            assert_eq!(ulid(millis, key).as_deref(), Some(expected));
        }
    }

    #[test]
    fn ulid_time_part_sorts_and_is_bounded() {
        assert_eq!(ulid(0, "k").unwrap()[..10], *"0000000000");
        assert_eq!(ulid(ULID_MAX_MILLIS, "k").unwrap()[..10], *"7ZZZZZZZZZ");
        assert!(ulid(1, "k").unwrap() < ulid(2, "k").unwrap());
        assert_eq!(ulid(-1, "k"), None);
        assert_eq!(ulid(ULID_MAX_MILLIS + 1, "k"), None);
        assert_eq!(ulid(i64::MIN, "k"), None);
    }

    #[test]
    fn ulid_depends_on_the_seed() {
        assert_ne!(ulid(5, "a:b"), ulid(5, "a:c"));
        assert_eq!(ulid(5, "a:b"), ulid(5, "a:b"));
        let id = ulid(5, "").unwrap();
        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|b| CROCKFORD.contains(&b)));
    }

    #[test]
    fn uuids_of_the_fixtures() {
        for (key, expected) in [
            (
                "test:msg_2sP9dG3nK7xT1vB5mR8wQ2yL6cK",
                "03b120cb-cab2-5ce7-8a88-fd4c16f3dd9a",
            ),
            (
                "test:msg_2qH7tB4mR8xD1kV6nP3sY9wJ2aG",
                "f2e74cef-069f-5ef9-8b8d-d39c8e4ce4de",
            ),
            (
                "test:msg_2rM5eH1qJ9zW3xC7nT2vK6bP8dL",
                "aefb2fea-c775-5267-992a-530e1095724d",
            ),
        ] {
            assert_eq!(uuid_v5(NAMESPACE_URL, key), expected);
        }
        assert_eq!(
            NAMESPACE_URL.hyphenated().to_string(),
            "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
        );
    }
}
