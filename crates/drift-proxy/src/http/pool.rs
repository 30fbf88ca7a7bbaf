//! Idle upstream connections per server (nginx `keepalive N`): at most N idle per server, LIFO
//! so the warmest connection is reused and surplus ones age out at the backend.

use super::body::ReqBody;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {0} timed out after {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("connect to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

pub type Sender = SendRequest<ReqBody>;

pub struct Pool {
    idle: Vec<Mutex<Vec<Sender>>>,
    /// The fast path's idle connections: plain sockets, no hyper client task behind them.
    raw: Vec<Mutex<Vec<RawConn>>>,
    /// Pipelined batches being gathered (`pipeline N`), per server.
    pub(crate) batches: super::fast::pipeline::Slots,
    cap: usize,
}

/// An upstream connection the fast path owns outright: it writes requests and reads responses
/// on it from the client's own task (no channel to a connection task), and keeps its read
/// buffer with it so bytes are never lost between exchanges.
pub struct RawConn {
    pub tcp: TcpStream,
    pub buf: bytes::BytesMut,
}

impl Pool {
    pub fn new(servers: usize, cap: usize) -> Self {
        Pool {
            idle: (0..servers).map(|_| Mutex::new(Vec::new())).collect(),
            raw: (0..servers).map(|_| Mutex::new(Vec::new())).collect(),
            batches: super::fast::pipeline::Slots::new(servers),
            cap,
        }
    }

    pub fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// An idle connection that is still open and ready for a request.
    pub fn checkout(&self, idx: usize) -> Option<Sender> {
        let slot = self.idle.get(idx)?;
        let mut idle = slot.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(s) = idle.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// Returns a connection whose response has been read to the end (LIFO; surplus is closed).
    /// Its connection task may not have marked it idle yet; then a small task waits for that,
    /// so checkouts never wait.
    pub fn put(self: &Arc<Self>, idx: usize, mut s: Sender) {
        if s.is_ready() {
            self.push(idx, s);
            return;
        }
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            if s.ready().await.is_ok() {
                pool.push(idx, s);
            }
        });
    }

    /// The most recently used idle raw connection that is still open with nothing unread (a
    /// server that closed it, or sent bytes nobody asked for, makes it unusable). The check is
    /// `try_read`, which costs no system call while the socket has had no event.
    pub fn checkout_raw(&self, idx: usize) -> Option<RawConn> {
        let slot = self.raw.get(idx)?;
        loop {
            let mut c = slot.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            let mut probe = [0u8; 1];
            if matches!(c.tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            {
                c.buf.clear();
                return Some(c);
            }
        }
    }

    /// Keeps a raw connection whose last response was read exactly to its end (LIFO; surplus
    /// is closed).
    pub fn put_raw(&self, idx: usize, c: RawConn) {
        if let Some(slot) = self.raw.get(idx) {
            let mut idle = slot.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.cap {
                idle.push(c);
            }
        }
    }

    fn push(&self, idx: usize, s: Sender) {
        if let Some(slot) = self.idle.get(idx) {
            let mut idle = slot.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.cap {
                idle.push(s);
            }
        }
    }
}

/// TCP connect within `timeout` (nginx `proxy_connect_timeout`), Nagle off.
async fn dial(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(ConnectError::Timeout(addr, timeout)),
        Ok(Err(e)) => return Err(ConnectError::Io(addr, e)),
        Ok(Ok(t)) => t,
    };
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Opens a plain upstream connection for the fast path.
pub async fn connect_raw(addr: SocketAddr, timeout: Duration) -> Result<RawConn, ConnectError> {
    Ok(RawConn {
        tcp: dial(addr, timeout).await?,
        buf: bytes::BytesMut::with_capacity(8192),
    })
}

/// Opens an upstream connection. `send_timeout` is nginx's `proxy_send_timeout`: the longest
/// time a write to the server may stay blocked (a server that stops reading the request body).
/// It belongs to the connection, so a pooled connection keeps the value of the location that
/// opened it.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    send_timeout: Duration,
) -> Result<Sender, ConnectError> {
    let io = SendTimeout {
        inner: dial(addr, timeout).await?,
        limit: send_timeout,
        blocked: None,
    };
    let (sender, conn) = Builder::new()
        .max_headers(super::fast::MAX_FIELDS)
        // Flattened writes: see `serve` in http/mod.rs (same measurement).
        .writev(false)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(%addr, error = %e, "upstream connection ended with error");
        }
    });
    Ok(sender)
}

/// TCP stream whose writes fail after staying blocked for `limit`. The timer exists only while
/// a write is blocked, so the common path (socket buffer has room) costs nothing.
struct SendTimeout {
    inner: TcpStream,
    limit: Duration,
    blocked: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for SendTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl SendTimeout {
    fn check<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.blocked = None;
            return r;
        }
        let limit = self.limit;
        let sleep = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "proxy_send_timeout: upstream stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for SendTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.check(r, cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.check(r, cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
