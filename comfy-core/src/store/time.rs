//! Times given by callers: ISO 8601 (`2026-11-05T12:00:00Z`, `2026-11-05`) or milliseconds.

use super::Millis;

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM`, into ms since the epoch.
pub fn parse_time(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let num = |t: &str| -> Option<i64> {
        if t.bytes().all(|b| b.is_ascii_digit()) { t.parse().ok() } else { None }
    };
    let (date, rest) = if s.len() >= 10 { s.split_at(10) } else { return None };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = 0i64;
    let mut offset = 0i64;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
            Some(p) => rest.split_at(p),
            None => (rest, ""),
        };
        let time = time.split('.').next()?;
        let mut t = time.split(':');
        let h = num(t.next()?)?;
        let mi = num(t.next()?)?;
        let se = match t.next() {
            Some(x) => num(x)?,
            None => 0,
        };
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + se;
        if let Some(z) = zone.strip_prefix(['+', '-']) {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let mut zp = z.split(':');
            let zh = num(zp.next()?)?;
            let zm = zp.next().map_or(Some(0), num)?;
            offset = sign * (zh * 3600 + zm * 60);
        } else if !zone.is_empty() && !zone.eq_ignore_ascii_case("z") {
            return None;
        }
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + secs - offset) * 1000)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_time("2026-11-05T12:00:00Z"), Some(1_793_880_000_000));
        assert_eq!(parse_time("2026-11-05T13:00:00+01:00"), Some(1_793_880_000_000));
        assert_eq!(parse_time("2026-11-05T12:00:00.123Z"), Some(1_793_880_000_000));
        assert_eq!(parse_time("12345"), Some(12345));
        for bad in ["", "yesterday", "2026-13-01", "2026-11-05T25:00", "2026-11-05Tx", "2026-11-05T12:00Q"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
