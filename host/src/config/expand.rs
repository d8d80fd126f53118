//! `${VAR}` expansion from the environment, with `${VAR:-default}` for a
//! fallback. Secrets stay out of the config file this way.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("unterminated `${{` (write `${{NAME}}`)")]
    Unterminated,
    #[error("`${{{0}}}` is not a valid variable name")]
    BadName(String),
}

/// Expands every `${NAME}` / `${NAME:-default}` in `text` using `lookup`.
pub fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    expand_tracking(text, lookup, &mut Vec::new())
}

/// Like [`expand_with`], also recording each (value, name) it substituted
/// from the environment, so the values can be redacted wherever they show.
pub fn expand_tracking(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    found: &mut Vec<(String, String)>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ExpandError::Unterminated)?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(ExpandError::BadName(inner.to_string()));
        }
        match lookup(name).filter(|v| !v.is_empty()) {
            Some(value) => {
                out.push_str(&value);
                found.push((value, name.to_string()));
            }
            None => match default {
                Some(default) => out.push_str(default),
                None => return Err(ExpandError::Unset(name.to_string())),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands from the process environment.
pub fn expand(text: &str) -> Result<String, ExpandError> {
    expand_with(text, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("secret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(expand_with("Bearer ${KEY}", env).unwrap(), "Bearer secret");
        assert_eq!(expand_with("${KEY}${KEY}", env).unwrap(), "secretsecret");
        assert_eq!(expand_with("${NOPE:-fallback}", env).unwrap(), "fallback");
        assert_eq!(expand_with("${EMPTY:-fallback}", env).unwrap(), "fallback");
        assert_eq!(
            expand_with("plain $KEY text", env).unwrap(),
            "plain $KEY text"
        );
    }

    #[test]
    fn reports_unset_and_malformed_references() {
        assert_eq!(
            expand_with("${NOPE}", env),
            Err(ExpandError::Unset("NOPE".into()))
        );
        assert_eq!(
            expand_with("${EMPTY}", env),
            Err(ExpandError::Unset("EMPTY".into()))
        );
        assert_eq!(expand_with("${KEY", env), Err(ExpandError::Unterminated));
        assert_eq!(
            expand_with("${1A}", env),
            Err(ExpandError::BadName("1A".into()))
        );
        assert_eq!(
            expand_with("${}", env),
            Err(ExpandError::BadName(String::new()))
        );
    }
}
