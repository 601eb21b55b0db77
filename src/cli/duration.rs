//! The one parser for every duration the agent takes: flags, their variables and `--config` keys.

use std::time::Duration;

/// Nothing the agent waits for lasts a year; a bound keeps every deadline computable.
const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses Go-style durations (`1h30m`, `500ms`, `90s`), jiff's friendly spellings of them
/// (`1h 30m`, `2 hours`), and a bare number of seconds (`3600`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Bare seconds, as 0.1.0 took them; too many digits is "too long", not "not a duration".
        Ok(text.parse::<u64>().map_or(Duration::MAX, Duration::from_secs))
    } else {
        jiff::fmt::friendly::SpanParser::new().parse_unsigned_duration(text)
    };
    let duration = parsed.map_err(|_| format!("\"{text}\" is not a duration like 90s, 1h30m or 500ms"))?;
    if duration > MAX {
        return Err(format!("\"{text}\" is too long (at most 8784h)"));
    }
    Ok(duration)
}

/// A duration sent on as whole seconds (`--lifetime`): a fraction would be dropped silently.
pub(crate) fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("\"{text}\" is not a whole number of seconds"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Result<Duration, String> {
        Ok(Duration::from_secs(n))
    }

    #[test]
    fn the_forms_of_0_1_0_keep_their_meaning() {
        assert_eq!(parse_duration("3600"), secs(3600));
        assert_eq!(parse_duration("3600s"), secs(3600));
        assert_eq!(parse_duration("60m"), secs(3600));
        assert_eq!(parse_duration("12h"), secs(43_200));
        assert_eq!(parse_duration(" 5m "), secs(300));
        assert_eq!(parse_duration("0"), secs(0));
    }

    #[test]
    fn go_style_durations_combine_units_and_take_milliseconds() {
        assert_eq!(parse_duration("1h30m"), secs(5400));
        assert_eq!(parse_duration("1h30m15s"), secs(5415));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h 30m"), secs(5400));
    }

    #[test]
    fn negative_empty_and_unknown_spellings_are_refused_with_an_example() {
        for text in ["", "-5s", "5s ago", "5x", "h", "1.5", "soon", "1 month"] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("like 90s, 1h30m or 500ms"), "{text:?}: {err}");
        }
    }

    #[test]
    fn more_than_a_leap_year_is_too_long() {
        assert_eq!(parse_duration("8784h"), secs(366 * 24 * 3600));
        for text in ["8785h", "8784h1s", "99999999999999999999999", "31622401"] {
            assert!(parse_duration(text).expect_err(text).contains("too long"), "{text:?}");
        }
    }

    #[test]
    fn whole_seconds_refuse_a_fraction_instead_of_dropping_it() {
        assert_eq!(parse_whole_seconds("1h30m"), secs(5400));
        assert!(parse_whole_seconds("3600.5s").expect_err("a fraction").contains("whole number of seconds"));
        assert!(parse_whole_seconds("500ms").is_err());
    }
}
