//! The client's request head as the fast path reads it: parsed in place by httparse, kept as
//! byte spans over the read buffer, and sorted into "the fast path can serve this" or "hand
//! the connection to hyper". Anything unusual goes to hyper, whose answers (400, 431, 100
//! Continue, upgrades, chunked bodies, HTTP/1.0) are the proxy's reference behaviour.

use super::names::{self, Name};
use crate::http::headers::Field;

/// Fields per head. nginx limits bytes, not fields (150 short fields pass it); hyper is set to
/// the same number, so both paths agree. The array is left uninitialised until parsed, so its
/// size costs nothing per request.
pub const MAX_FIELDS: usize = 256;

/// What the fast path needs of one request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqHead {
    /// Bytes of the head, blank line included; the body (if any) follows.
    pub len: usize,
    pub method: (u32, u32),
    /// Origin-form target (`/path?query`); other forms go to hyper.
    pub target: (u32, u32),
    pub content_length: u64,
    /// The client said `Connection: close`: answer, then close.
    pub close: bool,
    /// Some field is hop-by-hop (or named in Connection) and must not be forwarded; rare, so
    /// the writer checks names only when set.
    pub has_hop: bool,
}

impl ReqHead {
    pub fn is_head(&self, buf: &[u8]) -> bool {
        crate::http::headers::span(buf, self.method) == b"HEAD"
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: read more.
    Partial,
    Ready(ReqHead),
    /// Malformed, too many fields, or a request the fast path leaves to hyper.
    Hyper,
}

/// Parses the head at the start of `buf`; on `Ready`, `fields` holds its header fields.
pub fn parse(buf: &[u8], fields: &mut Vec<Field>) -> Parsed {
    let mut raw = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Hyper,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Hyper;
    };
    if method == "CONNECT" || !target.starts_with('/') {
        return Parsed::Hyper;
    }
    let at = |s: &[u8]| {
        let a = (s.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize) as u32;
        (a, a + s.len() as u32)
    };
    let mut head = ReqHead {
        len,
        method: at(method.as_bytes()),
        target: at(target.as_bytes()),
        content_length: 0,
        close: false,
        has_hop: false,
    };
    let mut lengths = 0;
    let mut hosts = 0;
    fields.clear();
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        match names::name(name) {
            Name::Other | Name::Date => {}
            Name::Host => hosts += 1,
            Name::Hop => head.has_hop = true,
            Name::TransferEncoding | Name::Upgrade | Name::Expect | Name::Http2Settings => {
                return Parsed::Hyper
            }
            Name::ContentLength => {
                lengths += 1;
                match parse_length(h.value) {
                    Some(n) if lengths == 1 => head.content_length = n,
                    _ => return Parsed::Hyper,
                }
            }
            Name::Connection => {
                head.has_hop = true;
                for t in tokens(h.value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        head.close = true;
                    } else if t.eq_ignore_ascii_case(b"upgrade") {
                        return Parsed::Hyper;
                    }
                }
            }
        }
        fields.push(Field {
            name: at(name),
            value: at(h.value),
        });
    }
    // RFC 9112 §3.2: exactly one Host (hyper's path answers 400 otherwise, as nginx does).
    if hosts != 1 {
        return Parsed::Hyper;
    }
    Parsed::Ready(head)
}

/// Comma-separated tokens of a field value, trimmed, empty ones skipped.
pub fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// A Content-Length value: digits only (RFC 9110 §8.6), no sign, no list, bounded.
pub fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::headers::span;

    fn ready(req: &[u8]) -> (ReqHead, Vec<Field>) {
        let mut f = Vec::new();
        match parse(req, &mut f) {
            Parsed::Ready(h) => (h, f),
            other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(req)),
        }
    }

    fn verdict(req: &[u8]) -> Parsed {
        parse(req, &mut Vec::new())
    }

    #[test]
    fn a_plain_get_is_served_with_spans_into_the_buffer() {
        let req = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\nrest";
        let (h, f) = ready(req);
        assert_eq!(h.len, req.len() - 4);
        assert_eq!(span(req, h.method), b"GET");
        assert_eq!(span(req, h.target), b"/a?b=1");
        assert!(!h.close && !h.has_hop && h.content_length == 0);
        assert_eq!(f.len(), 2);
        assert_eq!(span(req, f[1].name), b"X-Y");
        assert_eq!(span(req, f[1].value), b"z");
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(verdict(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(verdict(b"GE"), Parsed::Partial);
    }

    #[test]
    fn connection_close_and_hop_fields_are_noted() {
        let (h, _) = ready(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n");
        assert!(h.close && h.has_hop);
        let (h, _) = ready(b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n");
        assert!(h.has_hop && !h.close);
    }

    #[test]
    fn a_content_length_body_is_served_and_its_length_read() {
        let (h, _) = ready(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(h.content_length, 12);
    }

    #[test]
    fn unusual_requests_go_to_hyper() {
        for req in [
            &b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"[..],
            b"CONNECT a:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n",
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
            b"\x00\x01\x02\xff\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            // Each case but the Host ones carries one Host: it goes to hyper for its own reason.
            assert_eq!(
                verdict(req),
                Parsed::Hyper,
                "{:?}",
                String::from_utf8_lossy(req)
            );
        }
    }

    #[test]
    fn more_fields_than_the_array_go_to_hyper() {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..=MAX_FIELDS {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(verdict(&req), Parsed::Hyper);
    }

    #[test]
    fn content_length_values_are_digits_only() {
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1 2",
            b"0x10",
            b"1,1",
            b"9999999999999999999",
        ] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
    }
}
