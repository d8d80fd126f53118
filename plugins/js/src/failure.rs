//! A JavaScript exception (or syntax error) as one line for the dead letter:
//! `TypeError: … (line N)`, with the line of the script where it was thrown
//! when the engine knows it.
//!
//! Boa records source positions only at some operations (property reads,
//! calls, assignments, `throw`); an error elsewhere (an unknown name, say)
//! carries the last recorded position, often the enclosing function's `{`.
//! Such a position is reported as the function, not as the line.

use boa_engine::{Context, JsError, JsObject, JsString, JsValue};

/// Messages longer than this are cut: the dead letter shows one line.
const MAX_MESSAGE: usize = 500;

/// `error`, thrown by a script whose text is `source`, as
/// `Name: message (line N)`.
pub fn describe(error: JsError, source: &str, context: &mut Context) -> String {
    let text = match error.into_opaque(context) {
        Ok(thrown) => match thrown.as_object() {
            Some(object) => describe_object(&object, source, context),
            None => format!("uncaught {}", show(&thrown, context)),
        },
        // Engine failures (a runtime limit, say) have no JS value: their
        // text is the message, then a backtrace.
        Err(engine) => {
            let text = engine.to_string();
            let mut lines = text.lines();
            let message = lines.next().unwrap_or_default().to_owned();
            match lines.find_map(Frame::parse) {
                Some(frame) => format!("{message} (line {})", frame.line),
                None => message,
            }
        }
    };
    one_line(&text)
}

/// `Name: message (line N)` for an Error (or any thrown object).
fn describe_object(object: &JsObject, source: &str, context: &mut Context) -> String {
    let name = text_property(object, "name", context).unwrap_or_else(|| "Error".to_owned());
    let Some(mut message) = text_property(object, "message", context) else {
        return format!("uncaught {}", show(&object.clone().into(), context));
    };
    // The parser puts the position in the message: `… at line 3, col 5`.
    let mut place = None;
    if let Some((rest, position)) = message.rsplit_once(" at line ")
        && let Some((number, _)) = position.split_once(", col ")
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        place = Some(format!("line {number}"));
        message = rest.to_owned();
    }
    let place = place.or_else(|| {
        let stack = text_property(object, "stack", context)?;
        let frame = stack.lines().find_map(Frame::parse)?;
        Some(if opens_block(source, frame.line, frame.column) {
            format!("in {}, which starts on line {}", frame.function, frame.line)
        } else {
            format!("line {}", frame.line)
        })
    });
    let mut text = if message.is_empty() {
        name
    } else {
        format!("{name}: {message}")
    };
    if let Some(place) = place {
        text.push_str(&format!(" ({place})"));
    }
    text
}

/// One script frame of a backtrace: `    at handler (loops.js:5:10)`.
struct Frame<'a> {
    function: &'a str,
    line: usize,
    column: usize,
}

impl<'a> Frame<'a> {
    /// `None` for native frames and unknown positions (`:?:?`).
    fn parse(frame: &'a str) -> Option<Frame<'a>> {
        let inside = frame.trim().strip_prefix("at ")?.strip_suffix(')')?;
        let (function, location) = inside.split_once(" (")?;
        let mut parts = location.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        Some(Frame {
            function,
            line,
            column,
        })
    }
}

/// Whether `source` has a `{` at 1-based `line`, `column`: the position
/// Boa gives for "somewhere in this function".
fn opens_block(source: &str, line: usize, column: usize) -> bool {
    source
        .lines()
        .nth(line.wrapping_sub(1))
        .and_then(|text| text.chars().nth(column.wrapping_sub(1)))
        == Some('{')
}

/// `object[key]` as text, when it is there and reading it does not throw.
fn text_property(object: &JsObject, key: &str, context: &mut Context) -> Option<String> {
    let value = object.get(JsString::from(key), context).ok()?;
    if value.is_undefined() {
        return None;
    }
    Some(value.to_string(context).ok()?.to_std_string_escaped())
}

/// A thrown non-Error value, readable: strings quoted, objects as JSON.
fn show(value: &JsValue, context: &mut Context) -> String {
    if let Some(text) = value.as_string() {
        return format!("{:?}", text.to_std_string_escaped());
    }
    if value.is_object()
        && let Ok(json) = value.to_json(context)
        && let Some(json) = json
    {
        return json.to_string();
    }
    value.display().to_string()
}

/// `text` on one line, at most [`MAX_MESSAGE`] characters.
fn one_line(text: &str) -> String {
    let flat = text.replace(['\r', '\n'], " ");
    match flat.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let frame = Frame::parse("    at handler (loops.js:5:10)").unwrap();
        assert_eq!(
            (frame.function, frame.line, frame.column),
            ("handler", 5, 10)
        );
        let frame = Frame::parse("    at <main> (C:/x:y/a (1).js:12:1)").unwrap();
        assert_eq!(
            (frame.function, frame.line, frame.column),
            ("<main>", 12, 1)
        );
        assert!(Frame::parse("    at parse (native)").is_none());
        assert!(Frame::parse("    at <main> (a.js:?:?)").is_none());
        assert!(Frame::parse("garbage").is_none());
    }

    #[test]
    fn block_openings() {
        let source = "function handler(w) {\n  x();\n}";
        assert!(opens_block(source, 1, 21));
        assert!(!opens_block(source, 2, 3));
        assert!(!opens_block(source, 0, 0));
        assert!(!opens_block(source, 9, 1));
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(2000);
        assert_eq!(one_line(&long).chars().count(), MAX_MESSAGE + 1);
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
    }
}
