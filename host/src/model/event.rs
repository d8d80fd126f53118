//! What happens to webhooks: an `Event` received from a source, one
//! `Delivery` per matching endpoint, and the `Attempt`s made to send it. A
//! delivery whose status is `Dead` is the dead letter.

use std::fmt;
use std::str::FromStr;

use super::{DeliveryId, EventId, Millis};

use serde::{Deserialize, Serialize};

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
    /// Its endpoint was deleted before it went out.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Skipped,
        DeliveryStatus::Dead,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            DeliveryStatus::Pending => b'p',
            DeliveryStatus::Delivered => b'd',
            DeliveryStatus::Skipped => b's',
            DeliveryStatus::Dead => b'x',
            DeliveryStatus::Cancelled => b'c',
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
                format!(
                    "{s:?} is not a delivery status (pending, delivered, skipped, dead, cancelled)"
                )
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
    /// For an endpoint with `ordering = "fifo"`: deliveries with the same
    /// key go out one at a time, in id (ingest) order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

/// Where ingest sends an event: an endpoint, and for an endpoint with
/// `ordering = "fifo"` the key its delivery is ordered by (`""`: the whole
/// endpoint is one sequence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub endpoint: String,
    pub ordering_key: Option<String>,
}

impl From<&str> for Route {
    fn from(endpoint: &str) -> Route {
        Route {
            endpoint: endpoint.to_string(),
            ordering_key: None,
        }
    }
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
    /// The response's first headers (bounded; no `set-cookie`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<(String, String)>,
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
    Cancelled {
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
pub struct EventQuery {
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub cursor: Option<EventId>,
    pub limit: usize,
}

#[derive(Clone, Debug, Default)]
pub struct DeliveryQuery {
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
    pub cancelled: u64,
}

impl Counts {
    pub fn get(&self, status: DeliveryStatus) -> u64 {
        match status {
            DeliveryStatus::Pending => self.pending,
            DeliveryStatus::Delivered => self.delivered,
            DeliveryStatus::Skipped => self.skipped,
            DeliveryStatus::Dead => self.dead,
            DeliveryStatus::Cancelled => self.cancelled,
        }
    }

    pub(crate) fn add(&mut self, status: DeliveryStatus, delta: i64) {
        let slot = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Delivered => &mut self.delivered,
            DeliveryStatus::Skipped => &mut self.skipped,
            DeliveryStatus::Dead => &mut self.dead,
            DeliveryStatus::Cancelled => &mut self.cancelled,
        };
        *slot = slot.saturating_add_signed(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_and_show() {
        for st in DeliveryStatus::ALL {
            assert_eq!(st.as_str().parse::<DeliveryStatus>(), Ok(st));
        }
        assert!("done".parse::<DeliveryStatus>().is_err());
    }
}

/// One change to the catalog, as `GET /v1/audit` lists it: never a value
/// that could be a secret, only which fields changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Millis,
    /// `admin api`, `config file`, `delivery` (a 410).
    pub actor: String,
    /// e.g. `endpoint.create`, `endpoint.update`, `source.rotate`.
    pub action: String,
    /// e.g. `endpoint:loops-emails`.
    pub object: String,
    /// The fields that changed.
    #[serde(default)]
    pub changes: Vec<String>,
}
