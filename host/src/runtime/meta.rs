//! Reads a plugin's self-description from its component bytes, without
//! compiling it: the `hookwasm-plugin` custom section that the Rust SDK
//! writes (and `hookwasm-form`, how a dashboard asks for an endpoint's
//! fields), or the `version`/`description` sections that `wasm-tools
//! metadata add` writes for components made in other languages.

use serde::{Deserialize, Serialize};

/// The custom section the Rust SDK writes: UTF-8 JSON with these fields.
pub const SECTION: &str = "hookwasm-plugin";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Where the plugin sends requests when the endpoint has no URL; the host
    /// holds the plugin to this origin.
    #[serde(default)]
    pub default_url: Option<String>,
    /// From the `hookwasm-form` section.
    #[serde(skip)]
    pub form: Option<PluginForm>,
}

/// The custom section holding a plugin's [`PluginForm`] as JSON.
pub const FORM_SECTION: &str = "hookwasm-form";

pub use crate::model::{FormAuth, FormSetting, FormUrl, PluginForm};

/// A form section larger than this is ignored.
const MAX_FORM: usize = 64 << 10;

const MAX_FIELD: usize = 512;

pub fn read(bytes: &[u8]) -> PluginMeta {
    let mut ours = None;
    let mut form = None;
    let mut standard = PluginMeta::default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(wasmparser::Payload::CustomSection(section)) = payload else {
            continue;
        };
        let text = || {
            std::str::from_utf8(section.data())
                .ok()
                .map(|s| clip(s.trim()))
        };
        match section.name() {
            SECTION => {
                ours = serde_json::from_slice::<PluginMeta>(section.data()).ok();
            }
            FORM_SECTION if section.data().len() <= MAX_FORM => {
                form = serde_json::from_slice::<PluginForm>(section.data()).ok();
            }
            "version" if standard.version.is_none() => standard.version = text(),
            "description" if standard.description.is_none() => standard.description = text(),
            _ => {}
        }
    }
    let mut meta = ours.unwrap_or(standard);
    for field in [
        &mut meta.name,
        &mut meta.version,
        &mut meta.description,
        &mut meta.default_url,
    ] {
        *field = field.take().map(|s| clip(&s)).filter(|s| !s.is_empty());
    }
    meta.form = form;
    meta
}

fn clip(s: &str) -> String {
    s.chars()
        .take(MAX_FIELD)
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal core module with the given custom sections.
    fn module_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        for (name, data) in sections {
            let mut body = leb128(name.len());
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(data);
            wasm.push(0);
            wasm.extend(leb128(body.len()));
            wasm.extend_from_slice(&body);
        }
        wasm
    }

    fn leb128(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn reads_the_sdk_section() {
        let wasm = module_with(&[(
            SECTION,
            br#"{"name":"loops","version":"0.1.0","description":"Loops events","default_url":"https://app.loops.so/api/v1/events/send"}"#,
        )]);
        let meta = read(&wasm);
        assert_eq!(meta.name.as_deref(), Some("loops"));
        assert_eq!(meta.version.as_deref(), Some("0.1.0"));
        assert_eq!(
            meta.default_url.as_deref(),
            Some("https://app.loops.so/api/v1/events/send")
        );
    }

    #[test]
    fn falls_back_to_standard_sections_and_then_to_nothing() {
        let meta = read(&module_with(&[
            ("version", b"1.2.3"),
            ("description", b"made with jco"),
        ]));
        assert_eq!(meta.version.as_deref(), Some("1.2.3"));
        assert_eq!(meta.description.as_deref(), Some("made with jco"));
        assert_eq!(read(b"not wasm at all"), PluginMeta::default());
    }

    #[test]
    fn reads_the_form_section_and_ignores_a_broken_one() {
        let form = br#"{"title":"Loops","auth":{"kind":"bearer","label":"API key"},"settings":[{"key":"retry_link"}],"future":1}"#;
        let meta = read(&module_with(&[(FORM_SECTION, form)]));
        let form = meta.form.unwrap();
        assert_eq!(form.title.as_deref(), Some("Loops"));
        assert_eq!(
            form.auth,
            FormAuth::Bearer {
                label: Some("API key".into())
            }
        );
        assert_eq!(form.settings[0].key, "retry_link");
        assert_eq!(read(&module_with(&[(FORM_SECTION, b"{nope")])).form, None);
    }

    #[test]
    fn every_built_in_describes_its_form() {
        for (name, bytes) in crate::runtime::builtin::BUILTINS {
            let meta = read(bytes);
            let form = meta
                .form
                .unwrap_or_else(|| panic!("{name} has no readable hookwasm-form section"));
            assert!(form.title.is_some(), "{name}");
        }
    }

    #[test]
    fn strips_control_characters() {
        let meta = read(&module_with(&[(
            SECTION,
            br#"{"name":"a\nb","description":"x\u001b[31m"}"#,
        )]));
        assert_eq!(meta.name.as_deref(), Some("ab"));
        assert_eq!(meta.description.as_deref(), Some("x[31m"));
    }
}
