//! Plain-text tables for the CLI's default (non-`--json`) output.

/// Left-aligned columns separated by two spaces, padded to the widest cell.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `text` on one line and at most `max` characters (with `…`), so a long
/// reason cannot break a table's columns.
pub fn clip(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An optional cell: "-" when absent.
pub fn cell<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_long_cells_to_one_line() {
        assert_eq!(super::clip("a\nb  c", 10), "a b c");
        assert_eq!(super::clip("abcdefghijk", 5), "abcd…");
    }

    #[test]
    fn aligns_columns() {
        let out = super::render(
            &["A", "BB"],
            &[
                vec!["long".into(), "x".into()],
                vec!["é".into(), "y".into()],
            ],
        );
        assert_eq!(out, "A     BB\nlong  x\né     y\n");
    }
}
