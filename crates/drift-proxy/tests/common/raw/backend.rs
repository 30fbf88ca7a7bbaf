//! A scripted backend on loopback: parses each request strictly, records it, and answers with
//! the bytes the test chose (including wrong ones), plus builders for common messages.

use super::wire::{Message, Wire};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// What the scripted backend does after reading a request.
#[derive(Debug, Clone)]
pub enum Step {
    Write(Vec<u8>),
    Pause(Duration),
    /// Closes the connection (a FIN: the request has been read completely).
    Close,
    /// Echoes every later byte until the peer closes (after a `101 Switching Protocols`).
    Echo,
}

/// Which request this is: accept number on the backend and position on that connection (both from 1).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub conn: usize,
    pub nth: usize,
    /// Bytes of a later request had already arrived when this one was read: the client
    /// (the proxy) pipelined them.
    pub pipelined: bool,
}

type Script = dyn Fn(Ctx, &Message) -> Vec<Step> + Send + Sync;

/// A backend that parses each request strictly, records it, and answers as the script says.
pub struct RawBackend {
    pub addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<(Ctx, Message)>>>,
    errors: Arc<Mutex<Vec<String>>>,
    _tasks: JoinSet<()>,
}

impl RawBackend {
    pub async fn start(
        script: impl Fn(Ctx, &Message) -> Vec<Step> + Send + Sync + 'static,
    ) -> Self {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind raw backend: {e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let script: Arc<Script> = Arc::new(script);
        let accepts = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (a, s, e) = (accepts.clone(), seen.clone(), errors.clone());
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((tcp, _)) = l.accept().await {
                let conn = a.fetch_add(1, SeqCst) + 1;
                let (script, seen, errors) = (script.clone(), s.clone(), e.clone());
                conns.spawn(async move {
                    // Idle pooled connections may wait long between requests: not an error.
                    let mut w = Wire::new(tcp).with_limit(Duration::from_secs(300));
                    for nth in 1.. {
                        let m = match w.request(true).await {
                            Ok(Some(m)) => m,
                            Ok(None) => return,
                            Err(err) => {
                                errors.lock().unwrap_or_else(|p| p.into_inner()).push(err);
                                return;
                            }
                        };
                        let ctx = Ctx {
                            conn,
                            nth,
                            pipelined: w.buffered() > 0,
                        };
                        let steps = script(ctx, &m);
                        seen.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((ctx, m));
                        for step in steps {
                            match step {
                                Step::Write(b) => {
                                    if w.stream.write_all(&b).await.is_err() {
                                        return;
                                    }
                                }
                                Step::Pause(d) => tokio::time::sleep(d).await,
                                Step::Close => return,
                                Step::Echo => return w.echo().await,
                            }
                        }
                    }
                });
            }
        });
        RawBackend {
            addr,
            accepts,
            seen,
            errors,
            _tasks: tasks,
        }
    }

    /// A backend that answers every request with the same bytes.
    pub async fn fixed(response: &[u8]) -> Self {
        let r = response.to_vec();
        Self::start(move |_, _| vec![Step::Write(r.clone())]).await
    }

    /// TCP connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(SeqCst)
    }

    /// Requests read so far, in arrival order, with where each arrived.
    pub fn requests(&self) -> Vec<(Ctx, Message)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Bytes the backend could not parse as one unambiguous request.
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The only request received; panics if there were more, fewer or unparsable ones.
    pub fn only_request(&self) -> Message {
        let errors = self.errors();
        assert!(
            errors.is_empty(),
            "backend read invalid requests: {errors:?}"
        );
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "requests at the backend: {all:?}");
        all.remove(0).1
    }
}

/// `200 OK` with a Content-Length body.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A minimal keep-alive GET.
pub fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// `body` in chunked coding, `size` bytes per chunk, with no trailers.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// `n` deterministic, non-repeating-looking bytes, so a dropped or reordered slice shows.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}
