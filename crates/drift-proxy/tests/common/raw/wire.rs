//! One raw TCP connection that writes bytes and parses HTTP/1.1 messages strictly (RFC 9112:
//! CRLF line ends, one framing per message, chunked syntax), so a sloppy frame fails the test.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for any single read: generous, so a loaded 2-core machine never fails a test.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// One parsed HTTP message and the exact bytes it was made of.
#[derive(Debug, Clone)]
pub struct Message {
    /// Request line or status line, without CRLF.
    pub start: String,
    /// Header fields in wire order, names as sent (not lowercased).
    pub headers: Vec<(String, String)>,
    /// The payload after removing the transfer coding.
    pub body: Vec<u8>,
    pub chunked: bool,
    pub trailers: Vec<(String, String)>,
    /// Every byte of the message as read: head, framing and body.
    pub raw: Vec<u8>,
}

impl Message {
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }
    /// Every value of header `name` (case-insensitive), one per field line.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The value of a header that must appear at most once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "{name} appears {} times:\n{self}",
            all.len()
        );
        all.first().copied()
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl std::fmt::Display for Message {
    /// The head as text (for assertion messages), body abbreviated.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.start)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        let b = self.body_text();
        write!(
            f,
            "[{} body bytes] {}",
            self.body.len(),
            &b[..b.len().min(200)]
        )
    }
}

enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// RFC 9112 §6.3, strictly: a message carrying both Transfer-Encoding and Content-Length, or
/// conflicting lengths, is an error here (a proxy must never emit one).
fn framing(headers: &[(String, String)], response: bool) -> Result<Framing, String> {
    let get = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .collect()
    };
    let (te, cl) = (get("transfer-encoding"), get("content-length"));
    if !te.is_empty() && !cl.is_empty() {
        return Err("both Transfer-Encoding and Content-Length".into());
    }
    if let Some(last) = te.last() {
        return match (last.as_str(), response) {
            ("chunked", _) => Ok(Framing::Chunked),
            (_, true) => Ok(Framing::UntilClose),
            (o, false) => Err(format!("request with final transfer coding {o:?}")),
        };
    }
    if let Some(first) = cl.first() {
        if cl.iter().any(|v| v != first) || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad Content-Length {cl:?}"));
        }
        return first
            .parse()
            .map(Framing::Length)
            .map_err(|e| format!("Content-Length {first}: {e}"));
    }
    Ok(if response {
        Framing::UntilClose
    } else {
        Framing::Empty
    })
}

fn field(line: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(line);
    let (n, v) = text
        .split_once(':')
        .ok_or_else(|| format!("field line without colon: {text:?}"))?;
    if n.is_empty() || n.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(format!("bad field name in {text:?}"));
    }
    Ok((n.to_string(), v.trim_matches([' ', '\t']).to_string()))
}

/// One TCP connection with a read buffer: either side of the proxy.
pub struct Wire {
    pub stream: TcpStream,
    buf: Vec<u8>,
    limit: Duration,
}

impl Wire {
    pub fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
            limit: IO_LIMIT,
        }
    }

    /// Waits up to `limit` (instead of [`IO_LIMIT`]) for each read.
    pub fn with_limit(mut self, limit: Duration) -> Wire {
        self.limit = limit;
        self
    }

    /// Bytes read from the socket and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub async fn connect(addr: SocketAddr) -> Wire {
        let s = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Wire::new(s)
    }

    /// Connects from a chosen loopback source (any 127.x.y.z works on Linux `lo`).
    pub async fn connect_from(addr: SocketAddr, ip: IpAddr) -> Wire {
        let sock = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
        sock.bind(SocketAddr::new(ip, 0))
            .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let s = sock
            .connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr} from {ip}: {e}"));
        Wire::new(s)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("write {} bytes: {e}", bytes.len()));
    }

    /// Reads more bytes; Ok(0) at EOF (a reset counts as EOF: the peer is gone either way).
    async fn fill(&mut self) -> Result<usize, String> {
        let mut tmp = [0u8; 16 * 1024];
        match tokio::time::timeout(self.limit, self.stream.read(&mut tmp)).await {
            Err(_) => Err(format!(
                "no bytes within {:?} (have {:?})",
                self.limit,
                String::from_utf8_lossy(&self.buf)
            )),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(0),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
        }
    }

    async fn take(&mut self, n: usize, raw: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(format!("EOF after {} of {n} body bytes", self.buf.len()));
            }
        }
        let out: Vec<u8> = self.buf.drain(..n).collect();
        raw.extend_from_slice(&out);
        Ok(out)
    }

    /// One CRLF-terminated line, without the CRLF.
    async fn line(&mut self, raw: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let mut l = self.take(i + 2, raw).await?;
                l.truncate(i);
                return Ok(l);
            }
            if self.fill().await? == 0 {
                return Err(format!(
                    "EOF inside a line: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        }
    }

    /// Start line and fields; None on a clean EOF before the first byte.
    async fn head(&mut self, raw: &mut Vec<u8>) -> Result<Option<Message>, String> {
        if self.buf.is_empty() && self.fill().await? == 0 {
            return Ok(None);
        }
        let start = String::from_utf8_lossy(&self.line(raw).await?).into_owned();
        let mut headers = Vec::new();
        loop {
            let l = self.line(raw).await?;
            if l.is_empty() {
                break;
            }
            headers.push(field(&l)?);
        }
        Ok(Some(Message {
            start,
            headers,
            body: Vec::new(),
            chunked: false,
            trailers: Vec::new(),
            raw: Vec::new(),
        }))
    }

    async fn chunked(&mut self, m: &mut Message, raw: &mut Vec<u8>) -> Result<(), String> {
        m.chunked = true;
        loop {
            let l = self.line(raw).await?;
            let text = String::from_utf8_lossy(&l).into_owned();
            let size = text.split(';').next().unwrap_or("").trim_end();
            let n = usize::from_str_radix(size, 16)
                .map_err(|_| format!("bad chunk size line {text:?}"))?;
            if n == 0 {
                break;
            }
            let data = self.take(n, raw).await?;
            m.body.extend_from_slice(&data);
            if !self.line(raw).await?.is_empty() {
                return Err("chunk data not followed by CRLF".into());
            }
        }
        loop {
            let l = self.line(raw).await?;
            if l.is_empty() {
                return Ok(());
            }
            m.trailers.push(field(&l)?);
        }
    }

    async fn body(&mut self, m: &mut Message, f: Framing, raw: &mut Vec<u8>) -> Result<(), String> {
        match f {
            Framing::Empty => Ok(()),
            Framing::Length(n) => {
                m.body = self.take(n, raw).await?;
                Ok(())
            }
            Framing::Chunked => self.chunked(m, raw).await,
            Framing::UntilClose => {
                while self.fill().await? > 0 {}
                m.body = std::mem::take(&mut self.buf);
                raw.extend_from_slice(&m.body);
                Ok(())
            }
        }
    }

    /// Reads one request. With `send_continue`, answers `Expect: 100-continue` with a 100 before
    /// reading the body, as a real server does.
    pub async fn request(&mut self, send_continue: bool) -> Result<Option<Message>, String> {
        let mut raw = Vec::new();
        let Some(mut m) = self.head(&mut raw).await? else {
            return Ok(None);
        };
        let f = framing(&m.headers, false).map_err(|e| format!("{e} in\n{m}"))?;
        let expects = m
            .all("expect")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("100-continue"));
        if send_continue && expects && !matches!(f, Framing::Empty) {
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        self.body(&mut m, f, &mut raw).await?;
        m.raw = raw;
        Ok(Some(m))
    }

    /// Reads one response (an interim 1xx is returned as it is). `to_head`: it answers HEAD.
    pub async fn response(&mut self, to_head: bool) -> Result<Option<Message>, String> {
        let mut raw = Vec::new();
        let Some(mut m) = self.head(&mut raw).await? else {
            return Ok(None);
        };
        if !m.start.starts_with("HTTP/1.") {
            return Err(format!("not a status line: {:?}", m.start));
        }
        let st = m.status();
        let f = if to_head || (100..200).contains(&st) || st == 204 || st == 304 {
            Framing::Empty
        } else {
            framing(&m.headers, true).map_err(|e| format!("{e} in\n{m}"))?
        };
        self.body(&mut m, f, &mut raw).await?;
        m.raw = raw;
        Ok(Some(m))
    }

    /// The final response (or a 101), after any interim 1xx ones (returned too); panics on
    /// anything invalid.
    pub async fn final_response(&mut self, to_head: bool) -> (Vec<Message>, Message) {
        let mut interim = Vec::new();
        loop {
            let m = match self.response(to_head).await {
                Ok(Some(m)) => m,
                Ok(None) => panic!("connection closed before a response (interim: {interim:?})"),
                Err(e) => panic!("invalid response: {e}"),
            };
            // 101 ends HTTP on the connection: it is the last response, not an interim one.
            if (100..200).contains(&m.status()) && m.status() != 101 {
                interim.push(m);
                continue;
            }
            return (interim, m);
        }
    }

    /// The final response to a non-HEAD request, with no interim response before it.
    pub async fn expect_response(&mut self) -> Message {
        let (interim, m) = self.final_response(false).await;
        assert!(
            interim.is_empty(),
            "unexpected interim responses {interim:?}"
        );
        m
    }

    /// Ok once the peer has closed (EOF or reset) without sending another byte.
    pub async fn closed(&mut self) -> Result<(), String> {
        let have = self.buf.len();
        match self.fill().await {
            Ok(0) if have == 0 => Ok(()),
            Ok(_) => Err(format!(
                "expected close, got bytes {:?}",
                String::from_utf8_lossy(&self.buf)
            )),
            Err(e) => Err(format!("expected close: {e}")),
        }
    }

    /// Writes back every byte received (already buffered ones first) until the peer closes:
    /// the far end of an upgraded connection.
    pub async fn echo(&mut self) {
        loop {
            let pending = std::mem::take(&mut self.buf);
            if !pending.is_empty() && self.stream.write_all(&pending).await.is_err() {
                return;
            }
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return;
            }
        }
    }

    /// Everything until the peer closes; an error if it keeps the connection open.
    pub async fn rest(&mut self) -> Result<Vec<u8>, String> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}
