//! The one error type of a transform: what is wrong with the payload, said so
//! that a user reading the dead letter knows which field to look at.

use std::fmt;

/// Why an event could not be mapped, e.g. `data.customer.email is missing`.
///
/// It holds only the "what is wrong" part: [`crate::call`] (and so the host)
/// prefixes the plugin name and the event type, giving the contract's
/// `"loops: payment.succeeded: data.customer.email is missing"`.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message (one line, no trailing period).
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// `"{path} is missing"`: a required value is absent or `null`.
    pub fn missing(path: &str) -> Self {
        Error::new(format!("{path} is missing"))
    }

    /// `"{path} is not {expected}"`, e.g. `Error::invalid("data.total_amount",
    /// "an integer")`: a value is there but cannot be used.
    pub fn invalid(path: &str, expected: &str) -> Self {
        Error::new(format!("{path} is not {expected}"))
    }

    /// The message, without plugin name and event type.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The contract's one-line form: `"<plugin>: <event type>: <message>"`.
    pub fn render(&self, plugin: &str, event_type: &str) -> String {
        // Shown on one line in the delivery history, whatever the payload's
        // `type` or a message carried.
        format!("{plugin}: {event_type}: {}", self.message).replace(['\r', '\n'], " ")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_contract_message() {
        assert_eq!(
            Error::missing("data.customer.email").render("loops", "payment.succeeded"),
            "loops: payment.succeeded: data.customer.email is missing"
        );
        assert_eq!(
            Error::invalid("data.total_amount", "an integer").to_string(),
            "data.total_amount is not an integer"
        );
    }

    #[test]
    fn rendering_keeps_the_message_on_one_line() {
        assert_eq!(
            Error::new("bad\r\nthing").render("p", "t"),
            "p: t: bad  thing"
        );
    }
}
