//! RFC 3339 date-times (the envelope's `timestamp`) to unix time, as
//! Customer.io (seconds) and Inngest (milliseconds) want it.
//!
//! Hand-written rather than a date crate: plugins only ever need this one
//! conversion, and every kilobyte of a plugin is compiled on each load.

/// Milliseconds since the unix epoch for an RFC 3339 date-time, e.g.
/// `2025-01-15T23:30:12.482913Z` or `2025-01-16T00:30:12+01:00`; `None` when
/// `text` is not one.
///
/// Fractions of any length are accepted and truncated to milliseconds; `T`,
/// `t` or a space separates date and time; `Z`, `z` or `±hh:mm` is the
/// offset. A leap second (`:60`) counts as the next second.
///
/// ```
/// use hookwasm_sdk::time::unix_millis;
/// assert_eq!(unix_millis("2025-01-15T23:30:12.482913Z"), Some(1736983812482));
/// assert_eq!(unix_millis("2025-01-16T01:30:12.482+02:00"), Some(1736983812482));
/// assert_eq!(unix_millis("yesterday"), None);
/// ```
pub fn unix_millis(text: &str) -> Option<i64> {
    let mut cursor = Cursor(text.as_bytes());
    let year = cursor.digits(4)?;
    cursor.one_of(b"-")?;
    let month = cursor.digits(2)?;
    cursor.one_of(b"-")?;
    let day = cursor.digits(2)?;
    cursor.one_of(b"Tt ")?;
    let hour = cursor.digits(2)?;
    cursor.one_of(b":")?;
    let minute = cursor.digits(2)?;
    cursor.one_of(b":")?;
    let second = cursor.digits(2)?;
    let millis = cursor.fraction_millis()?;
    let offset_minutes = cursor.offset_minutes()?;
    if !cursor.0.is_empty() {
        return None;
    }

    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !valid {
        return None;
    }

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Whole seconds since the unix epoch (rounded down) for an RFC 3339
/// date-time; `None` when `text` is not one.
///
/// ```
/// use hookwasm_sdk::time::unix_seconds;
/// assert_eq!(unix_seconds("2025-01-15T23:30:12.999Z"), Some(1736983812));
/// assert_eq!(unix_seconds("1969-12-31T23:59:59.5Z"), Some(-1));
/// ```
pub fn unix_seconds(text: &str) -> Option<i64> {
    unix_millis(text).map(|ms| ms.div_euclid(1_000))
}

/// The bytes left to parse.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let (head, rest) = self.0.split_at_checked(count)?;
        let mut value = 0;
        for &b in head {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(b - b'0');
        }
        self.0 = rest;
        Some(value)
    }

    /// One byte out of `allowed`.
    fn one_of(&mut self, allowed: &[u8]) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        if !allowed.contains(&first) {
            return None;
        }
        self.0 = rest;
        Some(first)
    }

    /// An optional `.` and one or more digits, as whole milliseconds.
    fn fraction_millis(&mut self) -> Option<i64> {
        if self.one_of(b".").is_none() {
            return Some(0);
        }
        let count = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        let (fraction, rest) = self.0.split_at(count);
        self.0 = rest;
        let millis = fraction
            .iter()
            .chain(b"000")
            .take(3)
            .fold(0, |ms, &b| ms * 10 + i64::from(b - b'0'));
        Some(millis)
    }

    /// `Z` (0) or `±hh:mm`, in minutes east of UTC.
    fn offset_minutes(&mut self) -> Option<i64> {
        let sign = match self.one_of(b"Zz+-")? {
            b'+' => 1,
            b'-' => -1,
            _ => return Some(0),
        };
        let hours = self.digits(2)?;
        self.one_of(b":")?;
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 60 + minutes))
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_timestamps() {
        // Cross-checked with `date -d … +%s%3N`.
        assert_eq!(
            unix_millis("2025-01-15T23:30:12.482913Z"),
            Some(1_736_983_812_482)
        );
        assert_eq!(
            unix_millis("2025-02-20T14:05:44.210930Z"),
            Some(1_740_060_344_210)
        );
        assert_eq!(
            unix_millis("2025-03-02T09:14:27.550318Z"),
            Some(1_740_906_867_550)
        );
        assert_eq!(
            unix_seconds("2025-01-15T23:31:05.901277Z"),
            Some(1_736_983_865)
        );
    }

    #[test]
    fn epoch_and_calendar_edges() {
        assert_eq!(unix_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_millis("1969-12-31T23:59:59Z"), Some(-1_000));
        assert_eq!(unix_millis("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(unix_millis("2024-02-29T12:00:00Z"), Some(1_709_208_000_000));
        assert_eq!(unix_millis("2038-01-19T03:14:08Z"), Some(2_147_483_648_000));
        assert_eq!(
            unix_millis("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000)
        );
        assert_eq!(
            unix_millis("9999-12-31T23:59:59.999Z"),
            Some(253_402_300_799_999)
        );
    }

    #[test]
    fn fractions_of_any_length() {
        assert_eq!(unix_millis("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(unix_millis("1970-01-01T00:00:01.05Z"), Some(1_050));
        assert_eq!(unix_millis("1970-01-01T00:00:01.123Z"), Some(1_123));
        assert_eq!(
            unix_millis("1970-01-01T00:00:01.123999999999Z"),
            Some(1_123)
        );
        assert_eq!(unix_millis("1970-01-01T00:00:01.000000001Z"), Some(1_000));
        assert_eq!(unix_seconds("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(unix_millis("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn offsets() {
        let utc = unix_millis("2025-01-15T23:30:12Z");
        assert_eq!(unix_millis("2025-01-16T01:30:12+02:00"), utc);
        assert_eq!(unix_millis("2025-01-15T18:00:12-05:30"), utc);
        assert_eq!(unix_millis("2025-01-15T23:30:12+00:00"), utc);
        assert_eq!(unix_millis("2025-01-15T23:30:12-00:00"), utc);
        assert_eq!(unix_millis("2025-01-15t23:30:12z"), utc);
        assert_eq!(unix_millis("2025-01-15 23:30:12Z"), utc);
    }

    #[test]
    fn leap_second_counts_as_the_next_second() {
        assert_eq!(
            unix_millis("2016-12-31T23:59:60Z"),
            unix_millis("2017-01-01T00:00:00Z")
        );
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "2025",
            "2025-01-15",
            "2025-01-15T23:30:12",
            "2025-01-15T23:30Z",
            "2025-01-15T23:30:12.Z",
            "2025-01-15T23:30:12.123",
            "2025-01-15T23:30:12ZZ",
            "2025-01-15T23:30:12Z ",
            " 2025-01-15T23:30:12Z",
            "2025-01-15X23:30:12Z",
            "2025-13-15T23:30:12Z",
            "2025-00-15T23:30:12Z",
            "2025-02-29T23:30:12Z",
            "2025-04-31T23:30:12Z",
            "2025-01-00T23:30:12Z",
            "2025-01-15T24:00:00Z",
            "2025-01-15T23:60:00Z",
            "2025-01-15T23:30:61Z",
            "2025-01-15T23:30:12+24:00",
            "2025-01-15T23:30:12+01:60",
            "2025-01-15T23:30:12+0100",
            "2025-01-15T23:30:12+01",
            "+2025-01-15T23:30:12Z",
            "-025-01-15T23:30:12Z",
            "2025-1-15T23:30:12Z",
            "２０２５-01-15T23:30:12Z",
            "2025-01-15T23:30:12.٣Z",
            "1736983812",
        ] {
            assert_eq!(unix_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_is_consecutive() {
        let mut expected = days_from_civil(1800, 1, 1);
        for year in 1800..2200 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected);
                    expected += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }
}
