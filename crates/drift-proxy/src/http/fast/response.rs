//! The upstream's response head, read by httparse and rewritten straight into the bytes the
//! client gets: hop-by-hop fields dropped (RFC 9110 §7.6.1), the body's framing decided per
//! RFC 9112 §6.3 and written once, `Date` added when the upstream sent none (RFC 9110 §6.6.1).

use super::head::{parse_length, tokens};
use super::names::{self, is_hop, Name};

/// How the response body is delimited on the upstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// HEAD, 204, 304: no body whatever the fields say.
    Empty,
    Length(u64),
    /// Relayed verbatim, chunked to the client too.
    Chunked,
    /// Ends when the upstream closes; chunked to the client so its connection stays usable.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespHead {
    /// Bytes of the upstream head; the body follows.
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The upstream connection cannot carry another request after this response.
    pub upstream_close: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RespParsed {
    Partial,
    /// A 1xx interim response of this many bytes: dropped, the final one follows.
    Interim(usize),
    Ready(RespHead),
    /// Not a usable HTTP/1.x response (nginx: "upstream sent invalid header", 502).
    Bad,
}

/// Parses the response head at the start of `buf` and, when it is complete, appends the
/// client's response head to `out`. `head_req`: the request was HEAD. `client_close`: the
/// client connection ends after this response.
pub fn parse(buf: &[u8], head_req: bool, client_close: bool, out: &mut Vec<u8>) -> RespParsed {
    let mut raw = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() };
        super::head::MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return RespParsed::Partial,
        Err(_) => return RespParsed::Bad,
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return RespParsed::Bad;
    };
    match status {
        101 => return RespParsed::Bad,
        100..=199 => return RespParsed::Interim(len),
        _ => {}
    }
    // One look at each name (by length first); the second pass reuses it. Connection values
    // (at most a few fields in practice) are kept in case they name fields to drop.
    let mut kinds = [Name::Other; super::head::MAX_FIELDS];
    let mut conn: [&[u8]; 4] = [b""; 4];
    let mut n_conn = 0;
    let mut listed = false;
    let mut close = version == 0;
    let mut chunked = None;
    let mut length: Option<u64> = None;
    let mut has_date = false;
    for (h, k) in resp.headers.iter().zip(kinds.iter_mut()) {
        *k = names::name(h.name.as_bytes());
        match k {
            Name::Connection => {
                if n_conn == conn.len() {
                    return RespParsed::Bad;
                }
                conn[n_conn] = h.value;
                n_conn += 1;
                for t in tokens(h.value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if !t.eq_ignore_ascii_case(b"keep-alive") {
                        listed = true;
                    }
                }
            }
            // Only the last coding decides (RFC 9112 §6.3 rule 4).
            Name::TransferEncoding => {
                chunked = Some(
                    tokens(h.value)
                        .last()
                        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")),
                )
            }
            Name::ContentLength => match (parse_length(h.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return RespParsed::Bad,
            },
            Name::Date => has_date = true,
            _ => {}
        }
    }
    let framing = if head_req || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    // A body that ends with the connection, or framing the upstream got wrong (both fields),
    // leaves nothing reusable.
    let upstream_close =
        close || framing == Framing::UntilClose || (chunked.is_some() && length.is_some());

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (h, k) in resp.headers.iter().zip(kinds) {
        let name = h.name.as_bytes();
        let keep = match k {
            // A request's fields in a response are relayed as any other field.
            Name::Other | Name::Date | Name::Host | Name::Expect | Name::Http2Settings => {
                !(listed && is_hop(name, &conn[..n_conn]))
            }
            _ => false,
        };
        if keep {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    match (framing, length) {
        (Framing::Length(n), _) | (Framing::Empty, Some(n)) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        (Framing::Chunked | Framing::UntilClose, _) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
        }
        (Framing::Empty, None) => {}
    }
    if !has_date {
        super::date::append(out);
    }
    if client_close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    RespParsed::Ready(RespHead {
        len,
        status,
        framing,
        upstream_close,
    })
}

/// Appends `n` in decimal without going through `fmt`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A status code's three digits (httparse guarantees 100..=999).
fn itoa3(n: u16) -> [u8; 3] {
    [
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(resp: &[u8], head_req: bool, client_close: bool) -> (RespHead, String) {
        let mut out = Vec::new();
        match parse(resp, head_req, client_close, &mut out) {
            RespParsed::Ready(h) => (h, String::from_utf8_lossy(&out).into_owned()),
            other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(resp)),
        }
    }

    #[test]
    fn a_length_delimited_response_is_relayed_with_its_fields_and_without_hop_fields() {
        let r = b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: d\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nok";
        let (h, out) = ready(r, false, false);
        assert_eq!(h.len, r.len() - 2);
        assert_eq!(h.framing, Framing::Length(2));
        assert!(!h.upstream_close);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nServer: x\r\nDate: d\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn fields_named_in_connection_are_dropped() {
        let r = b"HTTP/1.1 200 OK\r\nDate: d\r\nConnection: X-Private\r\nX-Private: s\r\nX-Public: p\r\nContent-Length: 0\r\n\r\n";
        let (_, out) = ready(r, false, false);
        assert!(!out.contains("X-Private"), "{out}");
        assert!(out.contains("X-Public: p"), "{out}");
    }

    #[test]
    fn chunked_stays_chunked_and_wins_over_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nDate: d\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let (h, out) = ready(r, false, false);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
        let r = b"HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (h, out) = ready(r, false, false);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.upstream_close, "ambiguous framing: do not reuse");
        assert!(!out.contains("Content-Length"), "{out}");
    }

    #[test]
    fn a_body_without_length_ends_with_the_upstream_and_is_chunked_to_the_client() {
        let (h, out) = ready(b"HTTP/1.1 200 OK\r\nDate: d\r\n\r\n", false, false);
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(h.upstream_close);
        assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
        let (h, _) = ready(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::UntilClose);
    }

    #[test]
    fn head_204_and_304_have_no_body_but_keep_their_length_field() {
        let (h, out) = ready(
            b"HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 1234\r\n\r\n",
            true,
            false,
        );
        assert_eq!(h.framing, Framing::Empty);
        assert!(out.contains("Content-Length: 1234\r\n"), "{out}");
        for s in ["204 No Content", "304 Not Modified"] {
            let r = format!("HTTP/1.1 {s}\r\nDate: d\r\n\r\n");
            let (h, _) = ready(r.as_bytes(), false, false);
            assert_eq!(h.framing, Framing::Empty, "{s}");
            assert!(!h.upstream_close, "{s}");
        }
    }

    #[test]
    fn http_1_0_or_connection_close_ends_the_upstream_connection() {
        let (h, out) = ready(
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            false,
            false,
        );
        assert!(h.upstream_close);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        let (h, out) = ready(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            false,
            false,
        );
        assert!(h.upstream_close);
        assert!(
            !out.contains("close"),
            "the client's connection is not the upstream's: {out}"
        );
    }

    #[test]
    fn a_date_is_added_when_missing_and_close_when_the_client_leaves() {
        let (_, out) = ready(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true);
        assert!(
            out.contains("\r\nDate: ") && out.contains(" GMT\r\n"),
            "{out}"
        );
        assert!(out.ends_with("Connection: close\r\n\r\n"), "{out}");
    }

    #[test]
    fn interim_responses_are_skipped_and_101_or_garbage_is_bad() {
        let r = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n";
        let interim = r.len() - b"HTTP/1.1 200 OK\r\n".len();
        assert_eq!(
            parse(r, false, false, &mut Vec::new()),
            RespParsed::Interim(interim)
        );
        for bad in [
            &b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..],
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad, false, false, &mut Vec::new()),
                RespParsed::Bad,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\nX: y\r\n",
                false,
                false,
                &mut Vec::new()
            ),
            RespParsed::Partial
        );
    }

    #[test]
    fn decimals_are_written_like_format() {
        for n in [0, 7, 10, 1234, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn duplicate_equal_lengths_are_one_length() {
        let (h, out) = ready(
            b"HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::Length(3));
        assert_eq!(out.matches("Content-Length").count(), 1, "{out}");
    }
}
