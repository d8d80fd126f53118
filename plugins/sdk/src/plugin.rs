//! Declaring a plugin: the [`Plugin`] trait, its [`Metadata`], and the
//! [`plugin!`](crate::plugin!) macro that exports both from the component.

use crate::{Error, Event, Outcome};

/// A transform: one event in, one outcome out.
///
/// Implement it on a unit struct and hand that struct to
/// [`plugin!`](crate::plugin!). Return [`Outcome::skip`] for events the
/// plugin does not handle, and an [`Error`] (naming the JSON path at fault)
/// when the payload cannot be mapped; the host shows it to the user as
/// `"<plugin>: <event type>: <error>"`.
pub trait Plugin {
    /// Maps `event` to the request to send, or to a reason to skip it.
    fn transform(event: &Event) -> Result<Outcome, Error>;
}

/// What [`plugin!`](crate::plugin!) records about a plugin; the host shows it
/// in `hookwasm plugin list`.
pub trait Metadata {
    /// Short name, also the first part of every error message.
    const NAME: &'static str;
    /// The plugin crate's version (`CARGO_PKG_VERSION`).
    const VERSION: &'static str;
    /// One line saying what the plugin does.
    const DESCRIPTION: &'static str;
    /// Where the plugin sends requests when the endpoint configures no URL
    /// (e.g. Loops' API). The host then holds the plugin to this URL's
    /// origin, and refuses endpoints without a URL for plugins that have none.
    const DEFAULT_URL: Option<&'static str>;
    /// How a dashboard asks for this plugin's endpoint fields (URL,
    /// credentials, settings): the JSON of the crate's `form.json`, written
    /// to the `hookwasm-form` custom section.
    const FORM: Option<&'static str> = None;
}

/// Runs `P` on `event` as the host would: errors become the contract's
/// one-line message `"<plugin>: <event type>: <what is wrong>"`.
///
/// The export glue calls this; tests call it too, to see exactly what the
/// host will see.
pub fn call<P: Plugin + Metadata>(event: &Event) -> Result<Outcome, String> {
    P::transform(event).map_err(|error| error.render(P::NAME, &event.event_type))
}

/// Exports a [`Plugin`] from the component and records its metadata.
///
/// ```
/// # use hookwasm_sdk::prelude::*;
/// pub struct Loops;
/// # impl Plugin for Loops {
/// #     fn transform(_: &Event) -> Result<Outcome, Error> { Ok(Outcome::skip("")) }
/// # }
/// hookwasm_sdk::plugin!(
///     Loops,
///     name = "loops",
///     description = "Dodo Payments events to Loops",
///     // Optional: only for plugins that work without an endpoint URL.
///     default_url = "https://app.loops.so/api/v1/events/send",
///     // Optional: how a dashboard's form asks for the endpoint's fields.
///     form = r#"{"title": "Loops", "auth": {"kind": "bearer", "label": "API key"}}"#,
/// );
/// assert_eq!(<Loops as Metadata>::NAME, "loops");
/// ```
///
/// It implements [`Metadata`] (the version is the calling crate's
/// `CARGO_PKG_VERSION`) and, when compiling for `wasm32`:
///
/// - exports `transform` from the component, calling [`call`];
/// - writes a custom section named `hookwasm-plugin` holding the JSON
///   `{"name":"…","version":"…","description":"…"}` (plus `"default_url":"…"`
///   when given). It survives componentization, inside the component's core
///   module, and lets the host list a plugin without running it.
///
/// Use it once per plugin crate, at the top level of the crate.
#[macro_export]
macro_rules! plugin {
    (
        $plugin:ident,
        name = $name:expr,
        description = $description:expr
        $(, default_url = $default_url:expr)?
        $(, form = $form:expr)?
        $(,)?
    ) => {
        $crate::plugin!(
            @impl $plugin,
            $name,
            $description,
            $crate::__option!($($default_url)?),
            $crate::__option!($($form)?)
        );
    };
    (@impl $plugin:ident, $name:expr, $description:expr, $default_url:expr, $form:expr) => {
        impl $crate::Metadata for $plugin {
            const NAME: &'static str = $name;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const DESCRIPTION: &'static str = $description;
            const DEFAULT_URL: ::core::option::Option<&'static str> = $default_url;
            const FORM: ::core::option::Option<&'static str> = $form;
        }

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            const LEN: usize = $crate::__private::metadata_len::<$plugin>();
            #[unsafe(link_section = "hookwasm-plugin")]
            #[used]
            static HOOKWASM_PLUGIN_METADATA: [u8; LEN] =
                $crate::__private::metadata_json::<$plugin, LEN>();

            const FORM_LEN: usize = $crate::__private::form_len::<$plugin>();
            #[unsafe(link_section = "hookwasm-form")]
            #[used]
            static HOOKWASM_PLUGIN_FORM: [u8; FORM_LEN] =
                $crate::__private::form_bytes::<$plugin, FORM_LEN>();

            impl $crate::bindings::Guest for $plugin {
                fn transform(
                    event: $crate::Event,
                ) -> ::core::result::Result<$crate::Outcome, $crate::__private::String> {
                    $crate::call::<$plugin>(&event)
                }
            }

            $crate::bindings::__export!($plugin with_types_in $crate::bindings);
        };
    };
}

/// `None`, or `Some` of the one expression given: for [`plugin!`]'s
/// optional arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __option {
    () => {
        ::core::option::Option::None
    };
    ($value:expr) => {
        ::core::option::Option::Some($value)
    };
}

/// Length of `M`'s form description (0 without one).
pub const fn form_len<M: Metadata + ?Sized>() -> usize {
    match M::FORM {
        Some(form) => form.len(),
        None => 0,
    }
}

/// `M`'s form description as bytes, for the `hookwasm-form` section.
pub const fn form_bytes<M: Metadata + ?Sized, const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(form) = M::FORM {
        copy(&mut out, 0, form);
    }
    out
}

const PREFIX: &str = "{\"name\":\"";
const VERSION_KEY: &str = "\",\"version\":\"";
const DESCRIPTION_KEY: &str = "\",\"description\":\"";
const SUFFIX: &str = "\"}";

const DEFAULT_URL_KEY: &str = "\",\"default_url\":\"";

/// Length of [`metadata_json`]'s output for `M`, so that it can size its
/// array.
pub const fn metadata_len<M: Metadata + ?Sized>() -> usize {
    let mut len = PREFIX.len()
        + escaped_len(M::NAME)
        + VERSION_KEY.len()
        + escaped_len(M::VERSION)
        + DESCRIPTION_KEY.len()
        + escaped_len(M::DESCRIPTION)
        + SUFFIX.len();
    if let Some(url) = M::DEFAULT_URL {
        len += DEFAULT_URL_KEY.len() + escaped_len(url);
    }
    len
}

/// `M`'s metadata as JSON, built at compile time so that it can live in a
/// `#[link_section]` static. `N` must be [`metadata_len`] of the same `M`.
pub const fn metadata_json<M: Metadata + ?Sized, const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    at = copy(&mut out, at, PREFIX);
    at = copy_escaped(&mut out, at, M::NAME);
    at = copy(&mut out, at, VERSION_KEY);
    at = copy_escaped(&mut out, at, M::VERSION);
    at = copy(&mut out, at, DESCRIPTION_KEY);
    at = copy_escaped(&mut out, at, M::DESCRIPTION);
    if let Some(url) = M::DEFAULT_URL {
        at = copy(&mut out, at, DEFAULT_URL_KEY);
        at = copy_escaped(&mut out, at, url);
    }
    at = copy(&mut out, at, SUFFIX);
    assert!(at == N, "metadata_json: N must be metadata_len()");
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many bytes `s` takes inside a JSON string literal.
const fn escaped_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = 0;
    let mut i = 0;
    while i < bytes.len() {
        len += match bytes[i] {
            b'"' | b'\\' => 2,
            0..0x20 => 6,
            _ => 1,
        };
        i += 1;
    }
    len
}

const fn copy<const N: usize>(out: &mut [u8; N], mut at: usize, s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}

const fn copy_escaped<const N: usize>(out: &mut [u8; N], mut at: usize, s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\\' => {
                out[at] = b'\\';
                out[at + 1] = b;
                at += 2;
            }
            0..0x20 => {
                out[at] = b'\\';
                out[at + 1] = b'u';
                out[at + 2] = b'0';
                out[at + 3] = b'0';
                out[at + 4] = HEX[(b >> 4) as usize];
                out[at + 5] = HEX[(b & 0xf) as usize];
                at += 6;
            }
            _ => {
                out[at] = b;
                at += 1;
            }
        }
        i += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the metadata of a plugin declared with these fields, exactly as
    /// `plugin!` does, in a const context.
    macro_rules! metadata {
        ($name:expr, $version:expr, $description:expr, $default_url:expr) => {{
            struct P;
            impl Metadata for P {
                const NAME: &'static str = $name;
                const VERSION: &'static str = $version;
                const DESCRIPTION: &'static str = $description;
                const DEFAULT_URL: Option<&'static str> = $default_url;
            }
            const LEN: usize = metadata_len::<P>();
            const BYTES: [u8; LEN] = metadata_json::<P, LEN>();
            String::from_utf8(BYTES.to_vec()).unwrap()
        }};
    }

    #[test]
    fn metadata_is_the_exact_json() {
        assert_eq!(
            metadata!("loops", "0.1.0", "Dodo Payments events to Loops", None),
            r#"{"name":"loops","version":"0.1.0","description":"Dodo Payments events to Loops"}"#
        );
    }

    #[test]
    fn metadata_with_a_default_url() {
        assert_eq!(
            metadata!(
                "loops",
                "0.1.0",
                "d",
                Some("https://app.loops.so/api/v1/events/send")
            ),
            r#"{"name":"loops","version":"0.1.0","description":"d","default_url":"https://app.loops.so/api/v1/events/send"}"#
        );
    }

    #[test]
    fn metadata_escapes_quotes_backslashes_and_control_characters() {
        let text = metadata!(
            "a\"b",
            "1.0.0-rc\\1",
            "tab\there → ünïcode\n",
            Some("\u{1}")
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["name"], "a\"b");
        assert_eq!(parsed["version"], "1.0.0-rc\\1");
        assert_eq!(parsed["description"], "tab\there → ünïcode\n");
        assert_eq!(parsed["default_url"], "\u{1}");
    }

    #[test]
    fn metadata_of_empty_strings_is_still_json() {
        assert_eq!(
            metadata!("", "", "", None),
            r#"{"name":"","version":"","description":""}"#
        );
    }
}
