//! Test backends and clients, all on 127.0.0.1 with ephemeral ports.
#![allow(dead_code)]

pub mod raw;

use bytes::Bytes;
use drift_proxy::{check_str, Proxy, ProxyHandle};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An HTTP backend that answers with its id. Paths: `/status/N`, `/slow`, `/headers`,
/// `/count` (consumes the body, answers its length), `/big/N` (streams N bytes), `/health`.
pub struct Backend {
    pub id: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub healthy: Arc<AtomicBool>,
    /// Accepted TCP connections (to observe upstream keep-alive).
    pub conns: Arc<AtomicUsize>,
    tasks: Option<JoinSet<()>>,
}

impl Backend {
    pub async fn start(id: &str) -> Backend {
        Self::start_on(id, "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!())).await
    }

    pub async fn start_on(id: &str, addr: SocketAddr) -> Backend {
        let l = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind backend {addr}: {e}"));
        let addr = l.local_addr().unwrap_or(addr);
        let hits = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        let (id2, h2, ok2, c2) = (
            id.to_string(),
            Arc::clone(&hits),
            Arc::clone(&healthy),
            Arc::clone(&conns),
        );
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                c2.fetch_add(1, SeqCst);
                let (id, hits, ok) = (id2.clone(), Arc::clone(&h2), Arc::clone(&ok2));
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        serve(req, id.clone(), Arc::clone(&hits), Arc::clone(&ok))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Backend {
            id: id.to_string(),
            addr,
            hits,
            healthy,
            conns,
            tasks: Some(tasks),
        }
    }

    /// Closes the listener and every open connection: the port refuses from now on.
    pub fn stop(&mut self) {
        self.tasks = None;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(SeqCst)
    }
}

fn full(s: impl Into<Bytes>) -> TestBody {
    Full::new(s.into()).boxed()
}

async fn serve(
    req: Request<Incoming>,
    id: String,
    hits: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        let st = if healthy.load(SeqCst) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(Response::builder()
            .status(st)
            .body(full(""))
            .unwrap_or_default());
    }
    hits.fetch_add(1, SeqCst);
    if let Some(code) = path.strip_prefix("/status/") {
        let st = code
            .parse()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::OK);
        return Ok(Response::builder()
            .status(st)
            .body(full(id))
            .unwrap_or_default());
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if path == "/headers" {
        let mut s = format!("{} {}\n", req.method(), req.uri());
        for (k, v) in req.headers() {
            s.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
        }
        return Ok(Response::new(full(s)));
    }
    if path == "/count" {
        let mut body = req.into_body();
        let mut n: u64 = 0;
        while let Some(f) = body.frame().await {
            match f {
                Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => break,
            }
        }
        return Ok(Response::new(full(n.to_string())));
    }
    if let Some(n) = path.strip_prefix("/big/") {
        let total: u64 = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let frames = futures_util::stream::unfold(total, move |left| {
            let chunk = chunk.clone();
            async move {
                if left == 0 {
                    return None;
                }
                let n = left.min(chunk.len() as u64);
                Some((
                    Ok::<_, Infallible>(Frame::data(chunk.slice(..n as usize))),
                    left - n,
                ))
            }
        });
        return Ok(Response::new(StreamBody::new(frames).boxed()));
    }
    Ok(Response::new(full(id)))
}

pub async fn start_proxy(conf: &str) -> (ProxyHandle, SocketAddr) {
    let cfg = match check_str("test.conf", conf) {
        Ok(c) => c,
        Err(d) => panic!("{}", drift_proxy::render_all(&d)),
    };
    let h = Proxy::start(cfg)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    let addr = h.local_addrs()[0];
    (h, addr)
}

/// A keep-alive HTTP/1.1 client to one address; reconnects if the server closed.
pub struct Client {
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
    tx: Option<hyper::client::conn::http1::SendRequest<TestBody>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            source: None,
            tx: None,
        }
    }

    /// Connects from a chosen loopback source address (any 127.x.y.z works on Linux `lo`).
    pub fn from_source(addr: SocketAddr, source: std::net::IpAddr) -> Client {
        Client {
            addr,
            source: Some(source),
            tx: None,
        }
    }

    pub async fn send(&mut self, req: Request<TestBody>) -> Response<Incoming> {
        if self.tx.as_ref().is_none_or(|t| t.is_closed()) {
            let tcp = match self.source {
                None => TcpStream::connect(self.addr).await,
                Some(ip) => {
                    let sock =
                        tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
                    sock.bind(SocketAddr::new(ip, 0))
                        .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
                    sock.connect(self.addr).await
                }
            }
            .unwrap_or_else(|e| panic!("connect proxy: {e}"));
            let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .unwrap_or_else(|e| panic!("handshake: {e}"));
            tokio::spawn(conn);
            self.tx = Some(tx);
        }
        let Some(tx) = self.tx.as_mut() else {
            unreachable!()
        };
        let _ = tx.ready().await;
        tx.send_request(req)
            .await
            .unwrap_or_else(|e| panic!("request: {e}"))
    }

    pub async fn request(&mut self, method: &str, path: &str, body: &'static str) -> (u16, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "test")
            .body(full(body))
            .unwrap_or_else(|e| panic!("{e}"));
        let resp = self.send(req).await;
        let st = resp.status().as_u16();
        let b = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (st, String::from_utf8_lossy(&b).into_owned())
    }

    pub async fn get(&mut self, path: &str) -> (u16, String) {
        self.request("GET", path, "").await
    }
}

/// Resident and peak memory of this process in KiB, from /proc/self/status.
pub fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
