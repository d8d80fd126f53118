//! Ids and times: time-ordered ids (ULIDs) shown with a type prefix, and
//! milliseconds since the epoch for every stored time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Milliseconds since the Unix epoch: every stored time.
pub type Millis = u64;

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The next id of this process's monotonic ULID generator.
fn monotonic() -> Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    // Overflow of the random part within one millisecond (2^80 ids) cannot
    // happen in practice; a fresh id is still unique then.
    GENERATOR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .generate()
        .unwrap_or_else(|_| Ulid::new())
}

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        /// A time-ordered id (a ULID), shown with a type prefix.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Strictly increasing within this process (a monotonic
            /// ULID: the same millisecond increments the random part), so
            /// ids made one after another sort in that order — which FIFO
            /// endpoints deliver in.
            pub fn new() -> Self {
                $name(monotonic())
            }

            /// An id minted at `ms` (used for range bounds).
            pub fn bound(ms: Millis, high: bool) -> Self {
                $name(Ulid::from_parts(ms, if high { u128::MAX } else { 0 }))
            }

            pub fn bytes(&self) -> [u8; 16] {
                self.0.to_bytes()
            }

            pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
                let array: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
                Some($name(Ulid::from_bytes(array)))
            }

            pub fn ms(&self) -> Millis {
                self.0.timestamp_ms()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                let raw = s.strip_prefix($prefix).unwrap_or(s);
                Ulid::from_string(raw).map($name).map_err(|_| ())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|_| serde::de::Error::custom(concat!("not a ", $prefix, " id")))
            }
        }
    };
}

id_type!(EventId, "evt_");
id_type!(DeliveryId, "dlv_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_with_and_without_prefix() {
        let id = EventId::new();
        let shown = id.to_string();
        assert!(shown.starts_with("evt_"));
        assert_eq!(shown.parse::<EventId>(), Ok(id));
        assert_eq!(shown.trim_start_matches("evt_").parse::<EventId>(), Ok(id));
        assert!("dlv_nope".parse::<DeliveryId>().is_err());
        assert_eq!(EventId::from_bytes(&id.bytes()), Some(id));
        assert_eq!(EventId::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn bounds_bracket_ids_of_that_millisecond() {
        let id = EventId(Ulid::from_parts(1_000, 12345));
        assert!(EventId::bound(1_000, false) <= id && id <= EventId::bound(1_000, true));
        assert!(EventId::bound(1_001, false) > id);
    }
}
