//! nginx's time and size literals (`ngx_parse_time`, `ngx_parse_size`): `30s`, `1m30s`, `500ms`,
//! a bare number meaning seconds; sizes `8k`, `1m`, `1g`, a bare number meaning bytes.

use std::time::Duration;

pub fn parse_time(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next() {
                None => (1000, 0),
                Some('s') => (1000, 1),
                Some('m') => (60_000, 1),
                Some('h') => (3_600_000, 1),
                Some('d') => (86_400_000, 1),
                Some('w') => (604_800_000, 1),
                Some('M') => (2_592_000_000, 1),
                Some('y') => (31_536_000_000, 1),
                Some(_) => return None,
            }
        };
        rest = &rest[len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_number_is_seconds() {
        assert_eq!(parse_time("30"), Some(Duration::from_secs(30)));
    }

    #[test]
    fn units_and_combinations_add_up() {
        assert_eq!(parse_time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_time("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_time("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_time("2d"), Some(Duration::from_secs(172_800)));
    }

    #[test]
    fn garbage_time_is_rejected() {
        for s in ["", "s", "10x", "-1", "1.5s", "99999999999999999999y"] {
            assert_eq!(parse_time(s), None, "{s}");
        }
    }

    #[test]
    fn sizes_use_binary_multiples() {
        assert_eq!(parse_size("8k"), Some(8192));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("1.5k"), None);
    }
}
