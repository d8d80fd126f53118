//! Building what a plugin returns: a [`Request`] to deliver, or a reason to
//! skip ([`Outcome`]).

use serde_json::Value;

use crate::{Header, Outcome, Request};

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST` to `url`.
    ///
    /// ```
    /// use hookwasm_sdk::{Request, json};
    /// let request = Request::post("https://api.example.com/events")
    ///     .header("idempotency-key", "ep:msg_1")
    ///     .json(json!({"name": "paid"}));
    /// assert_eq!(request.header_value("content-type"), Some("application/json"));
    /// assert_eq!(request.body, br#"{"name":"paid"}"#);
    /// ```
    pub fn post(url: impl Into<String>) -> Request {
        Request::new("POST", url)
    }

    /// Adds a header (names are sent as given; use lower case).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push(Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Sets the body to `body` as compact JSON, and `content-type:
    /// application/json` (replacing any content type set before).
    pub fn json(mut self, body: impl Into<Value>) -> Request {
        // Serialising a `Value` cannot fail: its map keys are strings and the
        // writer is a Vec.
        self.body = serde_json::to_vec(&body.into()).unwrap_or_default();
        self.headers
            .retain(|h| !h.name.eq_ignore_ascii_case("content-type"));
        self.header("content-type", "application/json")
    }

    /// Sets the body to these bytes, sent as they are.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The value of the first header named `name` (case-insensitively).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Outcome {
    /// Send `request`.
    pub fn deliver(request: Request) -> Outcome {
        Outcome::Deliver(request)
    }

    /// Send nothing; `reason` is shown in the delivery's history.
    pub fn skip(reason: impl Into<String>) -> Outcome {
        Outcome::Skip(reason.into())
    }

    /// The request, when this is [`Outcome::Deliver`].
    pub fn request(&self) -> Option<&Request> {
        match self {
            Outcome::Deliver(request) => Some(request),
            Outcome::Skip(_) => None,
        }
    }

    /// The reason, when this is [`Outcome::Skip`].
    pub fn skip_reason(&self) -> Option<&str> {
        match self {
            Outcome::Deliver(_) => None,
            Outcome::Skip(reason) => Some(reason),
        }
    }
}

impl From<Request> for Outcome {
    fn from(request: Request) -> Outcome {
        Outcome::Deliver(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Object;
    use serde_json::json;

    #[test]
    fn json_sets_one_content_type_and_compact_body() {
        let request = Request::post("https://x.test/")
            .header("Content-Type", "text/plain")
            .header("idempotency-key", "k")
            .json(Object::new().set("a", 1i64).set("b", None::<&str>));
        assert_eq!(request.method, "POST");
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(
            request.headers,
            vec![
                Header {
                    name: "idempotency-key".into(),
                    value: "k".into()
                },
                Header {
                    name: "content-type".into(),
                    value: "application/json".into()
                },
            ]
        );
        assert_eq!(
            request.header_value("CONTENT-TYPE"),
            Some("application/json")
        );
        assert_eq!(request.json_body(), Some(json!({"a": 1})));
    }

    #[test]
    fn outcomes() {
        let outcome: Outcome = Request::new("PUT", "https://x.test/").body("raw").into();
        assert_eq!(outcome.request().unwrap().body, b"raw");
        assert_eq!(outcome.skip_reason(), None);
        let skipped = Outcome::skip("not mapped");
        assert_eq!(skipped.skip_reason(), Some("not mapped"));
        assert_eq!(skipped.request(), None);
        assert_eq!(
            Outcome::deliver(Request::post("u")),
            Outcome::Deliver(Request::post("u"))
        );
    }
}
