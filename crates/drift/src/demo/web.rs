//! The lab's traffic: a tiny HTTP responder per node that says which node answered, and a
//! client that asks the VIP every 50 ms. Both are threads of the demo process that entered the
//! right namespace, so there is nothing extra to install or to clean up.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeline::{Event, Stamped};

pub const PORT: u16 = 80;
/// Time between the starts of two client requests.
pub const POLL: Duration = Duration::from_millis(50);
/// Connect and read timeout of one request: a request to a dead master fails after this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);

/// Serve `HTTP/1.1 200` with body `<name>\n` to every request until `stop`.
///
/// Runs on a thread inside the node's namespace; binds 0.0.0.0 so it answers on the VIP
/// whenever the node holds it.
pub fn serve(name: &'static str, stop: Arc<AtomicBool>, ready: Sender<Result<(), String>>) {
    let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("{name}: bind :{PORT}: {e}")));
            return;
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        let _ = ready.send(Err(format!("{name}: {e}")));
        return;
    }
    let _ = ready.send(Ok(()));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, name),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn answer(mut s: TcpStream, name: &str) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(REQUEST_TIMEOUT));
    // Read the whole request head first: closing with unread data would send a reset.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let body = format!("{name}\n");
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(reply.as_bytes());
}

/// Ask `http://vip/` every [`POLL`] until `stop`, sending each result as an event.
pub fn poll(vip: IpAddr, stop: Arc<AtomicBool>, tx: Sender<Stamped>) {
    let addr = SocketAddr::new(vip, PORT);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let ev = match request(addr) {
            Ok(node) => Event::Answer(node),
            Err(why) => Event::Failed(why),
        };
        if tx.send((Instant::now(), ev)).is_err() {
            return;
        }
        std::thread::sleep(POLL.saturating_sub(started.elapsed()));
    }
}

/// One `GET /`; the node name from the body, or why it failed.
fn request(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).map_err(|e| brief(&e))?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| brief(&e))?;
    // One write: `write!` would send the pieces as separate segments.
    let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| brief(&e))?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| brief(&e))?;
    parse_reply(&reply)
}

fn brief(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout".into(),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// The body of a `200` reply, trimmed; an error naming what was wrong otherwise.
fn parse_reply(reply: &str) -> Result<String, String> {
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| "truncated reply".to_string())?;
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("unexpected status `{status}`"));
    }
    Ok(body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_reply_yields_its_body_and_anything_else_an_error() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nnode2\n";
        assert_eq!(parse_reply(ok), Ok("node2".to_string()));
        assert!(parse_reply("HTTP/1.1 502 Bad Gateway\r\n\r\n").is_err());
        assert!(parse_reply("HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_reply("").is_err());
    }

    #[test]
    fn the_responder_answers_with_its_name_over_loopback() {
        // Port 80 needs root (or is taken) on a developer machine: exercise the pieces on an
        // ephemeral port instead.
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = l.local_addr().expect("local addr");
        let server = std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                answer(s, "node1");
            }
        });
        assert_eq!(request(addr), Ok("node1".to_string()));
        let _ = server.join();
    }
}
