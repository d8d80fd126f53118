//! The stored domain: an `Event` received from a source, one `Delivery` per
//! matching endpoint, and the `Attempt`s made to send it. A delivery whose
//! status is `Dead` is the dead letter.

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

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        /// A time-ordered id (a ULID), shown with a type prefix.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                $name(Ulid::new())
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

/// A webhook as received and accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub source: String,
    /// The sender's `webhook-id`.
    pub webhook_id: String,
    pub event_type: String,
    pub received_at: Millis,
    /// The headers that matter later: the Standard Webhooks trio,
    /// content-type, user-agent.
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Skipped,
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Skipped,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            DeliveryStatus::Pending => b'p',
            DeliveryStatus::Delivered => b'd',
            DeliveryStatus::Skipped => b's',
            DeliveryStatus::Dead => b'x',
        }
    }

    pub fn is_final(self) -> bool {
        self != DeliveryStatus::Pending
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a delivery status (pending, delivered, skipped, dead)")
            })
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub endpoint: String,
    pub status: DeliveryStatus,
    /// HTTP attempts made so far.
    pub attempts: u32,
    /// Attempts made before the current retry schedule began: a manual
    /// retry, replay or recover starts the schedule afresh.
    #[serde(default)]
    pub schedule_from: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// When a pending delivery is next tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Millis>,
    /// Why it was skipped or dead-lettered, or the last error while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// The plugin (name@version) that produced the stored request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformed_by: Option<String>,
}

/// One try at sending a delivery's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub n: u32,
    pub at: Millis,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The first 4 KiB of the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happens to a delivery after an attempt (or a transform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again at this time; `reason` is the last error.
    Retry {
        at: Millis,
        reason: String,
    },
    Dead {
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

/// A page of results and the cursor for the next one.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub cursor: Option<EventId>,
    pub limit: usize,
}

#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub endpoint: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub cursor: Option<DeliveryId>,
    pub limit: usize,
}

/// Per-endpoint counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub dead: u64,
}

impl Counts {
    pub fn get(&self, status: DeliveryStatus) -> u64 {
        match status {
            DeliveryStatus::Pending => self.pending,
            DeliveryStatus::Delivered => self.delivered,
            DeliveryStatus::Skipped => self.skipped,
            DeliveryStatus::Dead => self.dead,
        }
    }

    pub(crate) fn add(&mut self, status: DeliveryStatus, delta: i64) {
        let slot = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Delivered => &mut self.delivered,
            DeliveryStatus::Skipped => &mut self.skipped,
            DeliveryStatus::Dead => &mut self.dead,
        };
        *slot = slot.saturating_add_signed(delta);
    }
}

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

    #[test]
    fn statuses_parse_and_show() {
        for st in DeliveryStatus::ALL {
            assert_eq!(st.as_str().parse::<DeliveryStatus>(), Ok(st));
        }
        assert!("done".parse::<DeliveryStatus>().is_err());
    }
}
