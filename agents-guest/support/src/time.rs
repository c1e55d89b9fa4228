//! Times as logs and samples write them: days since 1970 of a civil date ([`days_from_civil`]),
//! RFC 3339 timestamps in seconds ([`rfc3339_seconds`]), durations as plans and configs write them
//! ([`duration_ms`]), and the wall clock ([`now_ms`]).

use tandem_sdk::AgentError;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm; any year, proleptic
/// Gregorian).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since 1970 of an RFC 3339 time (`2026-12-01T10:00:00Z`, `...+02:00`, fractions).
pub fn rfc3339_seconds(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        fraction = format!("0.{}", &after[..digits]).parse().ok()?;
        rest = &after[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (num(text.len() - 5..text.len() - 3)? * 3600
                + num(text.len() - 2..text.len())? * 60)
        }
        _ => return None,
    };
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset) as f64 + fraction)
}

/// Milliseconds of a duration: a number (milliseconds) or text with a unit (`ms`, `s`, `m`, `h`,
/// `us`).
pub fn duration_ms(value: &serde_json::Value, what: &str) -> Result<f64, AgentError> {
    let bad = || {
        AgentError::invalid(format!(
            "{what}: `{value}` is not a duration (a number of milliseconds, or text such as `250ms`, `2s`, `1m`)"
        ))
    };
    let ms = match value {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(bad)?,
        serde_json::Value::String(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let number: f64 = text[..split].parse().map_err(|_| bad())?;
            let scale = match text[split..].trim() {
                "us" | "µs" => 0.001,
                "ms" => 1.0,
                "s" => 1000.0,
                "m" | "min" => 60_000.0,
                "h" => 3_600_000.0,
                _ => return Err(bad()),
            };
            number * scale
        }
        _ => return Err(bad()),
    };
    if !ms.is_finite() || ms < 0.0 {
        return Err(bad());
    }
    Ok(ms)
}

/// Milliseconds since 1970 by the wall clock the host gives the guest.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            rfc3339_seconds("2026-12-01T10:00:00Z"),
            Some(1_796_119_200.0)
        );
        assert_eq!(rfc3339_seconds("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00.5Z"), Some(0.5));
        assert_eq!(rfc3339_seconds("yesterday"), None);
    }

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(duration_ms(&serde_json::json!("2s"), "x").unwrap(), 2000.0);
        assert_eq!(
            duration_ms(&serde_json::json!("250ms"), "x").unwrap(),
            250.0
        );
        assert_eq!(duration_ms(&serde_json::json!(1.5), "x").unwrap(), 1.5);
        assert!(duration_ms(&serde_json::json!("soon"), "x").is_err());
    }
}
