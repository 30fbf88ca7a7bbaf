//! The admin port (`--admin ADDR:PORT`, off by default): `/metrics` (OpenMetrics text),
//! `/status.json` (what `drift status --json` prints) and `/` (the status page). A deliberately
//! tiny HTTP/1.x responder, one request per connection, on the ops thread: it must never share
//! a runtime with the VRRP loop, and it needs none of a full HTTP stack.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::ops::Sources;

/// Request heads larger than this are refused (nothing here takes a body).
const MAX_HEAD: usize = 8 * 1024;

/// `(status line, content type, body)` for a request line's method and path.
pub fn route(src: &Sources, method: &str, path: &str) -> (&'static str, &'static str, String) {
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", "text/plain", "GET only\n".into());
    }
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/" | "/index.html" => (
            "200 OK",
            "text/html; charset=utf-8",
            super::admin_page::render(&src.snapshot()),
        ),
        "/status.json" => (
            "200 OK",
            "application/json",
            serde_json::to_string_pretty(&src.snapshot()).unwrap_or_default(),
        ),
        "/metrics" => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            super::metrics::render(&src.registry),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

/// Answer one connection.
pub async fn serve_one(mut s: TcpStream, src: &Sources) {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(chunk.get(..n)?);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > MAX_HEAD {
                return Some(());
            }
        }
    })
    .await;
    if !matches!(head, Ok(Some(()))) {
        debug!("admin port: incomplete request");
        return;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, ctype, body) = if buf.len() > MAX_HEAD {
        (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
        )
    } else {
        route(src, method, path)
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    if method != "HEAD" {
        let _ = s.write_all(body.as_bytes()).await;
    }
    let _ = s.shutdown().await;
}
