//! Reading an [`Event`] (settings, endpoint URL, payload), and building one
//! in tests as the host would.

use crate::{Envelope, Error, Event};

impl Event {
    /// The endpoint's setting `key` (`settings = { key = "…" }` in the
    /// host's config), if set.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The endpoint's configured URL, or an error saying that this plugin
    /// needs one (for destinations whose URL carries the account, like a
    /// Windmill flow or an Inngest event key).
    pub fn require_endpoint_url(&self) -> Result<&str, Error> {
        self.endpoint_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .ok_or_else(|| Error::new("the endpoint has no url; set `url` in its config"))
    }

    /// The payload, parsed (see [`Envelope::parse`] for the errors).
    pub fn envelope(&self) -> Result<Envelope<'_>, Error> {
        Envelope::parse(&self.payload)
    }

    /// An event as the host builds it for endpoint `endpoint_id` receiving
    /// webhook `webhook_id`: the delivery key is
    /// `"{endpoint_id}:{webhook_id}"` and the event type is the payload's
    /// `type` (empty when there is none). For tests.
    pub fn from_payload(endpoint_id: &str, webhook_id: &str, payload: impl Into<String>) -> Event {
        let payload = payload.into();
        let event_type = serde_json::from_str::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        Event {
            id: webhook_id.to_owned(),
            delivery_key: format!("{endpoint_id}:{webhook_id}"),
            event_type,
            payload,
            endpoint_url: None,
            settings: Vec::new(),
        }
    }

    /// This event with the endpoint URL set. For tests.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Event {
        self.endpoint_url = Some(url.into());
        self
    }

    /// This event with setting `key` set to `value`. For tests.
    pub fn with_setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        let key = key.into();
        self.settings.retain(|(k, _)| *k != key);
        self.settings.push((key, value.into()));
        self
    }

    /// This event with another event type (the host takes it from the
    /// payload, but a test may want them to differ). For tests.
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Event {
        self.event_type = event_type.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_payload_fills_what_the_host_would() {
        let event = Event::from_payload("ep", "msg_1", r#"{"type":"payment.succeeded"}"#);
        assert_eq!(event.id, "msg_1");
        assert_eq!(event.delivery_key, "ep:msg_1");
        assert_eq!(event.event_type, "payment.succeeded");
        assert_eq!(event.endpoint_url, None);
        assert!(event.settings.is_empty());

        assert_eq!(Event::from_payload("ep", "m", "not json").event_type, "");
        assert_eq!(
            Event::from_payload("ep", "m", r#"{"type":5}"#).event_type,
            ""
        );
    }

    #[test]
    fn settings_and_url() {
        let event = Event::from_payload("ep", "m", "{}")
            .with_setting("retry_link", "a")
            .with_setting("retry_link", "b")
            .with_setting("name_prefix", "dodo/");
        assert_eq!(event.setting("retry_link"), Some("b"));
        assert_eq!(event.setting("name_prefix"), Some("dodo/"));
        assert_eq!(event.setting("nope"), None);
        assert_eq!(
            event.require_endpoint_url().unwrap_err().to_string(),
            "the endpoint has no url; set `url` in its config"
        );
        let event = event.with_endpoint_url("https://x.test/");
        assert_eq!(event.require_endpoint_url().unwrap(), "https://x.test/");
        let event = event.with_endpoint_url("");
        assert!(event.require_endpoint_url().is_err());
    }
}
