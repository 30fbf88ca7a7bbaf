//! Idle upstream connections per server (nginx `keepalive N`): at most N idle per server, LIFO
//! so the warmest connection is reused and surplus ones age out at the backend.

use super::body::ReqBody;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
    cap: usize,
}

impl Pool {
    pub fn new(servers: usize, cap: usize) -> Self {
        Pool {
            idle: (0..servers).map(|_| Mutex::new(Vec::new())).collect(),
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

    fn push(&self, idx: usize, s: Sender) {
        if let Some(slot) = self.idle.get(idx) {
            let mut idle = slot.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.cap {
                idle.push(s);
            }
        }
    }
}

pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Sender, ConnectError> {
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(ConnectError::Timeout(addr, timeout)),
        Ok(Err(e)) => return Err(ConnectError::Io(addr, e)),
        Ok(Ok(t)) => t,
    };
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = Builder::new()
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(%addr, error = %e, "upstream connection ended with error");
        }
    });
    Ok(sender)
}
