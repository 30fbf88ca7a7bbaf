//! Pure value parsers for keepalived's scalar syntax. Errors are short phrases that the
//! caller puts into a diagnostic.

use std::net::IpAddr;
use std::time::Duration;

/// keepalived `<BOOL>`: on|off|true|false|yes|no (a bare keyword means true).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not a boolean (on|off|true|false|yes|no)")),
    }
}

/// An integer in `min..=max`.
pub fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, String> {
    let v: i64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside the range {min}..={max}"));
    }
    Ok(v)
}

/// A `<TIMER>`: decimal seconds with up to microsecond resolution, e.g. `2.71828` or `3`.
/// Parsed by hand so that `0.1` is exactly 100 ms (no float rounding).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a time in seconds");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    if secs > 1_000_000_000 {
        return Err(format!("{s} seconds is too long"));
    }
    let mut micros: u32 = 0;
    for (i, b) in frac.bytes().enumerate() {
        if i >= 6 {
            break;
        }
        micros += u32::from(b - b'0') * 10u32.pow(5 - i as u32);
    }
    Ok(Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
}

/// Formats a Duration the way `parse_secs` reads it back exactly (`1`, `0.5`, `2.000001`).
pub fn format_secs(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        return d.as_secs().to_string();
    }
    let frac = format!("{micros:06}");
    format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
}

pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not an IP address"))
}

/// `IP[/MASK]`; the mask defaults to the full length (keepalived: /32, /128).
pub fn parse_ip_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip, mask) = match s.split_once('/') {
        Some((ip, m)) => (ip, Some(m)),
        None => (s, None),
    };
    let addr = parse_ip(ip)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match mask {
        None => max,
        Some(m) => {
            let v: u8 = m
                .parse()
                .map_err(|_| format!("`{m}` is not a prefix length"))?;
            if v > max {
                return Err(format!(
                    "prefix length /{v} is too long for {addr} (at most /{max})"
                ));
            }
            v
        }
    };
    Ok((addr, len))
}

/// Quotes a word for keepalived.conf if it would not read back as itself.
pub fn quote(s: &str) -> String {
    // A leading `@` would make the line conditional (keepalived.conf(5)); quoting keeps it a value.
    let plain = !s.is_empty()
        && !s.starts_with('@')
        && s.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\' | '{' | '}' | '#' | '!'));
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_exactly_and_format_back() {
        assert_eq!(parse_secs("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_secs("2.71828"), Ok(Duration::from_micros(2_718_280)));
        assert_eq!(parse_secs("3"), Ok(Duration::from_secs(3)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs(".").is_err());
        assert!(parse_secs("1e3").is_err());
        assert_eq!(format_secs(Duration::from_millis(500)), "0.5");
        assert_eq!(format_secs(Duration::from_secs(40)), "40");
    }

    #[test]
    fn masks_default_to_host_length_and_reject_overlong() {
        assert_eq!(parse_ip_prefix("10.0.0.1").map(|p| p.1), Ok(32));
        assert_eq!(parse_ip_prefix("fd00::1").map(|p| p.1), Ok(128));
        assert_eq!(parse_ip_prefix("10.0.0.1/24").map(|p| p.1), Ok(24));
        assert!(parse_ip_prefix("10.0.0.1/33").is_err());
        assert!(parse_ip_prefix("10.0.0.300").is_err());
    }

    #[test]
    fn booleans_follow_keepalived_words() {
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert_eq!(parse_bool("off"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn quoting_reads_back_through_the_lexer() {
        for s in [
            "plain",
            "a b",
            "q\"uote",
            "back\\slash",
            "",
            "#hash",
            "tab\tx",
            "{x}",
        ] {
            let mut d = Vec::new();
            let toks = crate::lexer::lex(0, &quote(s), &mut d);
            assert!(d.is_empty(), "{s:?}");
            assert!(
                matches!(&toks[0].kind, crate::lexer::TokenKind::Word { text, .. } if text == s),
                "{s:?}"
            );
        }
    }
}
