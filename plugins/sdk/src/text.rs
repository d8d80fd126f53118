//! Text for chat messages (Slack, Discord, Teams): cleaned of control
//! characters, cut to a destination's length limits on a character boundary
//! with an ellipsis, and a length budget shared fairly between the parts of a
//! message.
//!
//! Lengths are counted in UTF-16 code units. Chat APIs document their limits
//! in "characters" without saying which; a string never has more characters
//! (code points) than UTF-16 units, so a text cut to `n` units is within an
//! `n`-character limit however the destination counts (an emoji is 2 units).

/// Appended to a text that was cut.
pub const ELLIPSIS: char = '…';

/// The length of `text` in UTF-16 code units.
///
/// ```
/// use hookwasm_sdk::text::utf16_len;
/// assert_eq!(utf16_len("Zoë"), 3);
/// assert_eq!(utf16_len("🚀"), 2);
/// ```
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The length in UTF-16 code units of `text` once each character is
/// replaced by `escape(c)` (`None`: the character itself), as
/// [`fit_with`] counts it.
///
/// ```
/// use hookwasm_sdk::text::escaped_len;
/// assert_eq!(escaped_len("a<b", |c| (c == '<').then_some("&lt;")), 6);
/// ```
pub fn escaped_len(text: &str, escape: impl Fn(char) -> Option<&'static str>) -> usize {
    text.chars()
        .map(|c| escape(c).map_or(c.len_utf16(), utf16_len))
        .sum()
}

/// Unicode's bidirectional formatting characters, which can make a text
/// display in another order than it reads (e.g. an amount spoofed
/// backwards).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` as one line: control characters (line breaks and tabs too) become
/// spaces, bidirectional controls are removed, and runs of whitespace become
/// one space, trimmed at both ends.
///
/// ```
/// use hookwasm_sdk::text::clean_line;
/// assert_eq!(clean_line("  Jane\r\n\tDoe\0 \u{202e}x "), "Jane Doe x");
/// ```
pub fn clean_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with its line breaks (`\r\n`, `\r`, `\n`) kept as `\n`, each line
/// cleaned as [`clean_line`] does, blank lines at the ends dropped and runs
/// of blank lines made one.
///
/// ```
/// use hookwasm_sdk::text::clean_text;
/// assert_eq!(clean_text("\n a \r\n\r\n\r\n b\tc \r"), "a\n\nb c");
/// ```
pub fn clean_text(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out: Vec<String> = Vec::new();
    for line in unified.split('\n').map(clean_line) {
        let blank_after_blank = line.is_empty() && out.last().is_none_or(String::is_empty);
        if !blank_after_blank {
            out.push(line);
        }
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out.join("\n")
}

/// `text` cut to at most `max` UTF-16 units, ending in [`ELLIPSIS`] when it
/// was cut (never inside a character; whitespace before the ellipsis is
/// dropped).
///
/// ```
/// use hookwasm_sdk::text::fit;
/// assert_eq!(fit("Payment", 10), "Payment");
/// assert_eq!(fit("Payment failed", 8), "Payment…");
/// assert_eq!(fit("🚀🚀🚀", 4), "🚀…");
/// ```
pub fn fit(text: &str, max: usize) -> String {
    fit_with(text, max, |_| None)
}

/// Like [`fit`], for a text that the destination reads with escapes:
/// `escape(c)` is what to send for `c` (`None`: `c` itself). The limit applies
/// to the escaped text, which is what the destination counts, and an escape is
/// never cut in half.
///
/// ```
/// use hookwasm_sdk::text::fit_with;
/// let slack = |c| match c { '&' => Some("&amp;"), '<' => Some("&lt;"), '>' => Some("&gt;"), _ => None };
/// assert_eq!(fit_with("a<b", 10, slack), "a&lt;b");
/// assert_eq!(fit_with("ab<cd", 6, slack), "ab…");
/// ```
pub fn fit_with(text: &str, max: usize, escape: impl Fn(char) -> Option<&'static str>) -> String {
    let piece_len = |c: char| escape(c).map_or(c.len_utf16(), utf16_len);
    let total = escaped_len(text, &escape);
    let push = |out: &mut String, c: char| match escape(c) {
        Some(escaped) => out.push_str(escaped),
        None => out.push(c),
    };
    let mut out = String::with_capacity(text.len().min(max * 4));
    if total <= max {
        text.chars().for_each(|c| push(&mut out, c));
        return out;
    }
    if max == 0 {
        return out;
    }
    let room = max - ELLIPSIS.len_utf16();
    let mut used = 0;
    for c in text.chars() {
        let len = piece_len(c);
        if used + len > room {
            break;
        }
        used += len;
        push(&mut out, c);
    }
    out.truncate(out.trim_end().len());
    out.push(ELLIPSIS);
    out
}

/// Shares `budget` between parts that want `wants[i]` each: every part gets
/// what it wants when all fit; otherwise the small parts get theirs and the
/// large ones share the rest equally (max-min fairness). The shares never
/// exceed the wants nor, together, the budget.
///
/// ```
/// use hookwasm_sdk::text::allot;
/// assert_eq!(allot(&[10, 20], 100), [10, 20]);
/// assert_eq!(allot(&[10, 500, 900], 610), [10, 300, 300]);
/// ```
pub fn allot(wants: &[usize], budget: usize) -> Vec<usize> {
    let mut shares = wants.to_vec();
    if wants.iter().sum::<usize>() <= budget {
        return shares;
    }
    let mut order: Vec<usize> = (0..wants.len()).collect();
    order.sort_by_key(|&i| wants[i]);
    let mut left = budget;
    for (done, &i) in order.iter().enumerate() {
        let share = wants[i].min(left / (wants.len() - done));
        shares[i] = share;
        left -= share;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(c: char) -> Option<&'static str> {
        match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            _ => None,
        }
    }

    #[test]
    fn cutting_keeps_characters_whole() {
        assert_eq!(fit("", 0), "");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abc", 1), "…");
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(fit("ab cd", 4), "ab…");
        assert_eq!(fit("山田太郎", 3), "山田…");
        // A surrogate pair does not fit in the one unit left.
        assert_eq!(fit("a🚀b", 3), "a…");
        for max in 0..40 {
            for text in [
                "Zoë 山田 🚀 \"quoted\"",
                "🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀",
            ] {
                let cut = fit(text, max);
                assert!(utf16_len(&cut) <= max, "{max} {cut}");
                assert!(cut.chars().count() <= max);
            }
        }
    }

    #[test]
    fn escapes_count_and_are_never_split() {
        assert_eq!(fit_with("<!channel>", 30, slack), "&lt;!channel&gt;");
        for max in 0..30 {
            let cut = fit_with("a & b <c> d", max, slack);
            assert!(utf16_len(&cut) <= max, "{max} {cut}");
            let without_entities = cut
                .replace("&amp;", "")
                .replace("&lt;", "")
                .replace("&gt;", "");
            assert!(!without_entities.contains(['&', '<', '>']), "{max} {cut}");
        }
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_line(""), "");
        assert_eq!(clean_line("\0\r\n🚀 \u{202e}"), "🚀");
        assert_eq!(clean_line("a\u{2066}b\u{2069}c"), "abc");
        assert_eq!(clean_line("Zoë  山田"), "Zoë 山田");
        assert_eq!(clean_text("one\ntwo"), "one\ntwo");
        assert_eq!(clean_text("\r\n\r\n"), "");
        assert_eq!(clean_text("a\u{85}b"), "a b");
    }

    #[test]
    fn allotments_are_fair_and_within_budget() {
        assert_eq!(allot(&[], 5), Vec::<usize>::new());
        assert_eq!(allot(&[5, 5], 0), [0, 0]);
        assert_eq!(allot(&[100, 100, 100], 90), [30, 30, 30]);
        assert_eq!(allot(&[1, 1000, 2], 100), [1, 97, 2]);
        for budget in [0, 7, 100, 1000, 5000] {
            let wants = [3000, 12, 2000, 2000, 400, 0, 9999];
            let shares = allot(&wants, budget);
            assert!(shares.iter().sum::<usize>() <= budget);
            assert!(shares.iter().zip(wants).all(|(s, w)| *s <= w));
        }
    }
}
