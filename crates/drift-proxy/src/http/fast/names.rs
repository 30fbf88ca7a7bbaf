//! The header field names the fast path treats specially, in requests and responses alike,
//! found by length first so most names are rejected by one compare.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Other,
    Host,
    Date,
    Connection,
    ContentLength,
    TransferEncoding,
    Upgrade,
    Expect,
    Http2Settings,
    /// Hop-by-hop (RFC 9110 §7.6.1 and the de-facto ones): TE, Trailer, Keep-Alive,
    /// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization.
    Hop,
}

pub fn name(n: &[u8]) -> Name {
    let is = |s: &str| n.eq_ignore_ascii_case(s.as_bytes());
    match n.len() {
        2 if is("te") => Name::Hop,
        4 if is("host") => Name::Host,
        4 if is("date") => Name::Date,
        6 if is("expect") => Name::Expect,
        7 if is("upgrade") => Name::Upgrade,
        7 if is("trailer") => Name::Hop,
        10 if is("connection") => Name::Connection,
        10 if is("keep-alive") => Name::Hop,
        14 if is("content-length") => Name::ContentLength,
        14 if is("http2-settings") => Name::Http2Settings,
        16 if is("proxy-connection") => Name::Hop,
        17 if is("transfer-encoding") => Name::TransferEncoding,
        18 if is("proxy-authenticate") => Name::Hop,
        19 if is("proxy-authorization") => Name::Hop,
        _ => Name::Other,
    }
}

/// True for a field a proxy never forwards: hop-by-hop, connection-specific, or named in the
/// message's Connection field (`connection_values`).
pub fn is_hop(n: &[u8], connection_values: &[&[u8]]) -> bool {
    !matches!(
        name(n),
        Name::Other | Name::Host | Name::Date | Name::ContentLength
    ) || connection_values
        .iter()
        .any(|v| super::head::tokens(v).any(|t| t.eq_ignore_ascii_case(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case_and_others_are_other() {
        assert_eq!(name(b"Content-Length"), Name::ContentLength);
        assert_eq!(name(b"TRANSFER-ENCODING"), Name::TransferEncoding);
        assert_eq!(name(b"keep-alive"), Name::Hop);
        assert_eq!(name(b"x-upgrade"), Name::Other);
        assert_eq!(name(b"Hosts"), Name::Other);
    }

    #[test]
    fn hop_names_include_those_listed_in_connection() {
        assert!(is_hop(b"Keep-Alive", &[]));
        assert!(is_hop(b"x-secret", &[b"keep-alive, X-Secret"]));
        assert!(!is_hop(b"x-ok", &[b"keep-alive, X-Secret"]));
        assert!(!is_hop(b"content-length", &[]));
        assert!(!is_hop(b"Date", &[]));
    }
}
