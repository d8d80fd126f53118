//! Rows to domain types and back: the columns each query selects, and the
//! conversions (ids as 16 bytes, times as `bigint` milliseconds, JSON as
//! `jsonb` sent and read as text).

use std::str::FromStr;

use tokio_postgres::Row;

use crate::store::*;

/// A delivery's columns, in the order `delivery` reads them.
pub const DELIVERY: &str = "id, event_id, endpoint, status, attempts, schedule_from, created_at, \
     updated_at, next_attempt_at, reason, last_status, transformed_by, ordering_key";

/// An event's columns, in the order `event` reads them (the payload apart).
pub const EVENT: &str = "id, source, webhook_id, event_type, received_at, headers::text";

pub fn ms(v: Millis) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_ms(v: i64) -> Millis {
    u64::try_from(v).unwrap_or(0)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize, what: &str) -> Result<T> {
    row.try_get(i).map_err(|e| corrupt(what, e))
}

pub fn event_id(bytes: &[u8]) -> Result<EventId> {
    EventId::from_bytes(bytes).ok_or_else(|| corrupt("event id", "not 16 bytes"))
}

pub fn delivery_id(bytes: &[u8]) -> Result<DeliveryId> {
    DeliveryId::from_bytes(bytes).ok_or_else(|| corrupt("delivery id", "not 16 bytes"))
}

/// A delivery from the columns `DELIVERY` starting at `at`.
pub fn delivery(row: &Row, at: usize) -> Result<Delivery> {
    let status: &str = get(row, at + 3, "delivery status")?;
    let last_status: Option<i32> = get(row, at + 10, "last status")?;
    Ok(Delivery {
        id: delivery_id(get(row, at, "delivery id")?)?,
        event_id: event_id(get(row, at + 1, "event id")?)?,
        endpoint: get(row, at + 2, "endpoint")?,
        status: DeliveryStatus::from_str(status).map_err(|e| corrupt("delivery status", e))?,
        attempts: u32::try_from(get::<i32>(row, at + 4, "attempts")?).unwrap_or(0),
        schedule_from: u32::try_from(get::<i32>(row, at + 5, "schedule_from")?).unwrap_or(0),
        created_at: from_ms(get(row, at + 6, "created_at")?),
        updated_at: from_ms(get(row, at + 7, "updated_at")?),
        next_attempt_at: get::<Option<i64>>(row, at + 8, "next_attempt_at")?.map(from_ms),
        reason: get(row, at + 9, "reason")?,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        transformed_by: get(row, at + 11, "transformed_by")?,
        ordering_key: get(row, at + 12, "ordering_key")?,
    })
}

/// An event from the columns `EVENT` starting at `at`.
pub fn event(row: &Row, at: usize) -> Result<Event> {
    let headers: &str = get(row, at + 5, "event headers")?;
    Ok(Event {
        id: event_id(get(row, at, "event id")?)?,
        source: get(row, at + 1, "source")?,
        webhook_id: get(row, at + 2, "webhook id")?,
        event_type: get(row, at + 3, "event type")?,
        received_at: from_ms(get(row, at + 4, "received_at")?),
        headers: serde_json::from_str(headers).map_err(|e| corrupt("event headers", e))?,
    })
}

pub fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

pub fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// The request column (`request::text`) at `i`.
pub fn request(row: &Row, i: usize) -> Result<Option<OutboundRequest>> {
    let text: Option<&str> = get(row, i, "request")?;
    text.map(|t| from_json(t, "request")).transpose()
}
