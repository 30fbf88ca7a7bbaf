//! The `Date` field for responses whose upstream sent none, formatted once per second per
//! worker thread (RFC 9110 §6.6.1: a proxy forwarding such a response appends one).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `Date: <IMF-fixdate>\r\n`.
pub fn append(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(c.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_field_is_an_imf_fixdate_that_parses_back() {
        let mut out = Vec::new();
        super::append(&mut out);
        let s = String::from_utf8_lossy(&out);
        let v = s
            .strip_prefix("Date: ")
            .and_then(|v| v.strip_suffix("\r\n"))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(httpdate::parse_http_date(v).is_ok(), "{v}");
    }
}
