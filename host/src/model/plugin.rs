//! What a plugin says about itself, without running it: its description
//! as listings show it ([`PluginInfo`]) and how a form asks for the fields of
//! an endpoint that runs it ([`PluginForm`]).

use serde::{Deserialize, Serialize};

/// The built-in plugin that runs JavaScript handlers.
pub const JS_ENGINE: &str = "js";

/// A loaded plugin, as `hookwasm plugin list` and the admin API show it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub source: String,
    pub description: String,
    pub hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A JavaScript handler's own snapshot: `ready`, `building`, or `none: <why>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// In a running server: `ready`, `compiling`, `failed`, or `available`
    /// (a built-in nothing uses yet, compiled on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// How a form asks for an endpoint's fields (the dashboard's card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<PluginForm>,
    /// Something that works but deserves attention (a file that overrides
    /// a built-in plugin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl PluginInfo {
    /// A plugin known only by its name and where it would come from.
    pub fn unknown(name: &str, source: String) -> PluginInfo {
        PluginInfo {
            name: name.to_string(),
            version: "-".into(),
            source,
            description: String::new(),
            hash: String::new(),
            default_url: None,
            loaded_at: None,
            last_error: None,
            snapshot: None,
            state: None,
            form: None,
            warning: None,
        }
    }
}

/// How a form asks for the fields of an endpoint that runs a plugin: the
/// dashboard's "Add endpoint" card and form. Written by the plugin's
/// author (`form.json` beside a built-in's `Cargo.toml`); unknown keys are
/// ignored so that newer plugins load on older hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginForm {
    /// The card's name, e.g. "Customer.io".
    #[serde(default)]
    pub title: Option<String>,
    /// messaging, crm, analytics, email, automation, workflow, webhook,
    /// transformation.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub url: Option<FormUrl>,
    #[serde(default)]
    pub auth: FormAuth,
    #[serde(default)]
    pub settings: Vec<FormSetting>,
    /// The event types the plugin maps: a sensible default filter.
    #[serde(default)]
    pub events: Vec<String>,
    /// The endpoint's transformation is code the user writes (`js`).
    #[serde(default)]
    pub code: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormUrl {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub placeholder: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
    /// The URL itself is a credential (Slack, Zapier): shown masked.
    #[serde(default)]
    pub secret: bool,
}

/// Which credential the endpoint's `auth` holds, and what to call it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FormAuth {
    /// None (the URL carries the secret, or there is none).
    #[default]
    None,
    Bearer {
        #[serde(default)]
        label: Option<String>,
    },
    Basic {
        #[serde(default)]
        username_label: Option<String>,
        /// Absent: the password is empty (a write key as the username).
        #[serde(default)]
        password_label: Option<String>,
    },
    Header {
        name: String,
        #[serde(default)]
        label: Option<String>,
    },
    /// Any of them, the user's choice (a JavaScript transformation).
    Choice,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormSetting {
    pub key: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub placeholder: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
}
