//! The byte layout of the two records the hot path writes whole: an event
//! with its payload and the deliveries made at ingest, and a delivery with
//! its latest attempt and the request its transform made.
//!
//! Why whole: under load each sled insert costs the server far more than
//! its bytes (node copies, log reservations, page-cache bookkeeping); an
//! event used to take an insert in each of `events`, `payloads` and
//! `by_event`, and a delivered delivery one in `requests` and one in
//! `attempts` besides its own. Folding them in (with pending deliveries
//! left out of `by_status`) took about a sixth off the server's CPU per
//! event (`hookwasm bench`, alternating runs against the layout before).
//! Earlier attempts of a delivery, when it has several, are in `attempts`:
//! the record holds the latest only.
//!
//! Layouts (integers big-endian):
//! - event:    1 · u32 n · n bytes of `Event` JSON · u16 k ·
//!   k × (16-byte delivery id · u16 m · m bytes of endpoint id) · payload
//! - delivery: 2 · u32 n · n bytes of `Delivery` JSON · u32 the latest
//!   attempt's number · u32 m · m bytes of its `Attempt` JSON (none: m = 0)
//!   · the request's JSON (none: nothing). Its number is kept apart so that
//!   moving it to `attempts` needs no parsing. Records with a first byte of
//!   1 (a layout that lived for a day) hold no attempt: 1 · u32 n · n bytes
//!   of `Delivery` JSON · the request's JSON.
//!
//! Records written before this layout are plain JSON (their first byte is
//! `{`); their payload, deliveries, attempts and request are in the
//! `payloads`, `by_event`, `attempts` and `requests` trees, which are read
//! for them still.

use crate::store::{DeliveryId, Result, StoreError};

/// The first byte of an event record in this layout (never `{`).
const EVENT_LAYOUT: u8 = 1;
/// The first byte of a delivery record in this layout, and of one in the
/// layout before it, which held no attempt.
const DELIVERY_LAYOUT: u8 = 2;
const DELIVERY_LAYOUT_WITHOUT_ATTEMPT: u8 = 1;

/// An event record, borrowed from the stored bytes.
pub(super) struct EventRecord<'a> {
    pub event_json: &'a [u8],
    /// The deliveries made at ingest: (delivery, endpoint).
    pub deliveries: Vec<(DeliveryId, &'a str)>,
    /// `None` for a record from before this layout: see `payloads`.
    pub payload: Option<&'a [u8]>,
}

/// A delivery record, borrowed from the stored bytes.
pub(super) struct DeliveryRecord<'a> {
    pub delivery_json: &'a [u8],
    pub held: Held<'a>,
}

/// What a delivery's record holds besides the delivery, as JSON. `None`
/// when it holds none: a record from before this layout keeps its request
/// in `requests` and its attempts in `attempts`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Held<'a> {
    /// (its number, its JSON)
    pub attempt: Option<(u32, &'a [u8])>,
    pub request: Option<&'a [u8]>,
}

pub(super) fn encode_event(
    event_json: &[u8],
    deliveries: &[(DeliveryId, &str)],
    payload: &[u8],
) -> Result<Vec<u8>> {
    // Exactly: the record is kept in memory for first attempts (`Fresh`),
    // spare capacity included.
    let list: usize = deliveries.iter().map(|(_, e)| 16 + 2 + e.len()).sum();
    let mut out = Vec::with_capacity(1 + 4 + event_json.len() + 2 + list + payload.len());
    out.push(EVENT_LAYOUT);
    put_len32(&mut out, event_json.len())?;
    out.extend_from_slice(event_json);
    let count = u16::try_from(deliveries.len())
        .map_err(|_| StoreError::Corrupt("an event with over 65,535 deliveries".into()))?;
    out.extend_from_slice(&count.to_be_bytes());
    for &(id, endpoint) in deliveries {
        out.extend_from_slice(&id.bytes());
        let len = u16::try_from(endpoint.len())
            .map_err(|_| StoreError::Corrupt("an endpoint id over 65,535 bytes".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(endpoint.as_bytes());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

pub(super) fn decode_event(bytes: &[u8]) -> Result<EventRecord<'_>> {
    if bytes.first() != Some(&EVENT_LAYOUT) {
        return Ok(EventRecord {
            event_json: bytes,
            deliveries: Vec::new(),
            payload: None,
        });
    }
    let corrupt = || StoreError::Corrupt("event record: truncated".into());
    let mut r = Reader(&bytes[1..]);
    let n = r.u32().ok_or_else(corrupt)?;
    let event_json = r.take(n).ok_or_else(corrupt)?;
    let k = r.u16().ok_or_else(corrupt)?;
    let mut deliveries = Vec::with_capacity(k);
    for _ in 0..k {
        let id = r
            .take(16)
            .and_then(DeliveryId::from_bytes)
            .ok_or_else(corrupt)?;
        let m = r.u16().ok_or_else(corrupt)?;
        let endpoint = std::str::from_utf8(r.take(m).ok_or_else(corrupt)?)
            .map_err(|_| StoreError::Corrupt("event record: endpoint id not UTF-8".into()))?;
        deliveries.push((id, endpoint));
    }
    Ok(EventRecord {
        event_json,
        deliveries,
        payload: Some(r.0),
    })
}

pub(super) fn encode_delivery(delivery_json: &[u8], held: Held<'_>) -> Result<Vec<u8>> {
    let (number, attempt) = held.attempt.unwrap_or_default();
    let request = held.request.unwrap_or_default();
    let mut out =
        Vec::with_capacity(1 + 4 + delivery_json.len() + 8 + attempt.len() + request.len());
    out.push(DELIVERY_LAYOUT);
    put_len32(&mut out, delivery_json.len())?;
    out.extend_from_slice(delivery_json);
    out.extend_from_slice(&number.to_be_bytes());
    put_len32(&mut out, attempt.len())?;
    out.extend_from_slice(attempt);
    out.extend_from_slice(request);
    Ok(out)
}

pub(super) fn decode_delivery(bytes: &[u8]) -> Result<DeliveryRecord<'_>> {
    let layout = match bytes.first() {
        Some(&DELIVERY_LAYOUT) => DELIVERY_LAYOUT,
        Some(&DELIVERY_LAYOUT_WITHOUT_ATTEMPT) => DELIVERY_LAYOUT_WITHOUT_ATTEMPT,
        _ => {
            return Ok(DeliveryRecord {
                delivery_json: bytes,
                held: Held::default(),
            });
        }
    };
    let corrupt = || StoreError::Corrupt("delivery record: truncated".into());
    let mut r = Reader(&bytes[1..]);
    let n = r.u32().ok_or_else(corrupt)?;
    let delivery_json = r.take(n).ok_or_else(corrupt)?;
    let mut attempt = None;
    if layout == DELIVERY_LAYOUT {
        let number = r.u32().ok_or_else(corrupt)? as u32;
        let m = r.u32().ok_or_else(corrupt)?;
        let json = r.take(m).ok_or_else(corrupt)?;
        attempt = (!json.is_empty()).then_some((number, json));
    }
    Ok(DeliveryRecord {
        delivery_json,
        held: Held {
            attempt,
            request: (!r.0.is_empty()).then_some(r.0),
        },
    })
}

fn put_len32(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len =
        u32::try_from(len).map_err(|_| StoreError::Corrupt("a record part over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Reads a record front to back; `None` when it ends too soon.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<usize> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?) as usize)
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_record_reads_back_what_was_written() {
        let a = DeliveryId::new();
        let b = DeliveryId::new();
        let bytes = encode_event(
            br#"{"id":"x"}"#,
            &[(a, "loops"), (b, "inngest-é")],
            b"{\"type\":\"payment.succeeded\"}",
        )
        .unwrap();
        assert_eq!(bytes.len(), bytes.capacity());
        let record = decode_event(&bytes).unwrap();
        assert_eq!(record.event_json, br#"{"id":"x"}"#);
        assert_eq!(record.deliveries, vec![(a, "loops"), (b, "inngest-é")]);
        assert_eq!(
            record.payload,
            Some(&b"{\"type\":\"payment.succeeded\"}"[..])
        );
    }

    #[test]
    fn a_delivery_record_keeps_what_it_holds_or_its_absence() {
        for held in [
            Held::default(),
            Held {
                attempt: Some((1, b"{\"n\":1}")),
                request: None,
            },
            Held {
                attempt: None,
                request: Some(b"{\"url\":\"u\"}"),
            },
            Held {
                attempt: Some((7, b"{\"n\":7}")),
                request: Some(b"{\"url\":\"u\"}"),
            },
        ] {
            let bytes = encode_delivery(b"{\"d\":1}", held).unwrap();
            let record = decode_delivery(&bytes).unwrap();
            assert_eq!(record.delivery_json, b"{\"d\":1}");
            assert_eq!(record.held, held);
        }
    }

    #[test]
    fn a_delivery_record_of_the_layout_without_an_attempt_is_read() {
        let mut bytes = vec![DELIVERY_LAYOUT_WITHOUT_ATTEMPT, 0, 0, 0, 7];
        bytes.extend_from_slice(b"{\"d\":1}{\"url\":\"u\"}");
        let record = decode_delivery(&bytes).unwrap();
        assert_eq!(record.delivery_json, b"{\"d\":1}");
        assert_eq!(
            record.held,
            Held {
                attempt: None,
                request: Some(b"{\"url\":\"u\"}"),
            }
        );
    }

    #[test]
    fn records_from_before_the_layout_are_their_json() {
        let event = decode_event(br#"{"id":"x"}"#).unwrap();
        assert_eq!(event.event_json, br#"{"id":"x"}"#);
        assert!(event.deliveries.is_empty() && event.payload.is_none());
        let delivery = decode_delivery(br#"{"d":1}"#).unwrap();
        assert_eq!(delivery.delivery_json, br#"{"d":1}"#);
        assert_eq!(delivery.held, Held::default());
    }

    #[test]
    fn a_cut_record_is_an_error_not_a_panic() {
        let bytes = encode_event(b"{}", &[(DeliveryId::new(), "e")], b"p").unwrap();
        // Every cut before the payload (its last byte) loses part of the header.
        for cut in 1..bytes.len() - 1 {
            assert!(decode_event(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let delivery = encode_delivery(b"{}", Held::default()).unwrap();
        for cut in 1..delivery.len() {
            assert!(decode_delivery(&delivery[..cut]).is_err(), "cut at {cut}");
        }
    }
}
