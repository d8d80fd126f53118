//! What the host hands the plugin besides the event: the handler's source and
//! display name, carried in reserved `hookwasm.*` settings (the WIT has one
//! `transform(event)` export and no other channel), split from the user's own
//! settings.

use hookwasm_sdk::{Error, Event};

/// The setting holding the handler's JavaScript source.
pub const SCRIPT_KEY: &str = "hookwasm.script";
/// The setting holding the name shown in errors, e.g. `transforms/loops.js`.
pub const SCRIPT_NAME_KEY: &str = "hookwasm.script-name";
/// Settings whose key starts with this belong to the host: never shown to JS.
const RESERVED_PREFIX: &str = "hookwasm.";
/// The name used in errors when the host gives none.
const UNNAMED: &str = "handler.js";

/// One endpoint's handler, as the host passed it.
#[derive(Clone, Copy, Debug)]
pub struct Script<'a> {
    /// JavaScript source defining `function handler(webhook)`.
    pub source: &'a str,
    /// Where the source came from, for error messages.
    pub name: &'a str,
}

impl<'a> Script<'a> {
    /// The script carried by `event`, or the error telling the user how to
    /// give one.
    pub fn from_event(event: &'a Event) -> Result<Script<'a>, Error> {
        let source = event.setting(SCRIPT_KEY).ok_or_else(|| {
            Error::new(
                "no script: name a handler file with `script = \"…\"` \
                 or drop a .js file in the plugins directory",
            )
        })?;
        let name = event
            .setting(SCRIPT_NAME_KEY)
            .filter(|name| !name.is_empty())
            .unwrap_or(UNNAMED);
        Ok(Script { source, name })
    }
}

/// The endpoint's own settings, in the order the host gave them, without the
/// host's reserved `hookwasm.*` keys.
pub fn user_settings(event: &Event) -> impl Iterator<Item = (&str, &str)> {
    event
        .settings
        .iter()
        .filter(|(key, _)| !key.starts_with(RESERVED_PREFIX))
        .map(|(key, value)| (key.as_str(), value.as_str()))
}
