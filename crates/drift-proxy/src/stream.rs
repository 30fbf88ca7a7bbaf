//! TCP proxying (nginx `stream`): pick a server with the same balancer and passive health, connect
//! (retrying the next server per `proxy_next_upstream`), then copy both ways. Half-close is
//! forwarded (EOF from one side shuts down writing to the other) and `proxy_timeout` closes a
//! session idle in both directions.

use crate::balance::{Attempt, Key};
use crate::config::model::StreamServer;
use crate::config::template::Var;
use crate::upstream::Upstream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub async fn serve(
    listener: Arc<TcpListener>,
    up: Arc<Upstream>,
    srv: StreamServer,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let srv = Arc::new(srv);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "stream accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (up, srv) = (Arc::clone(&up), Arc::clone(&srv));
        tokio::spawn(async move {
            if let Err(e) = session(tcp, remote, &up, &srv).await {
                tracing::debug!(%remote, upstream = %up.name, error = %e, "stream session ended");
            }
            drop(permit);
        });
    }
}

async fn session(
    client: TcpStream,
    remote: SocketAddr,
    up: &Arc<Upstream>,
    srv: &StreamServer,
) -> io::Result<()> {
    let local = client.local_addr()?;
    let mut key = String::new();
    if let Some(t) = &up.hash_key {
        t.render(&mut key, |v, o| match v {
            Var::RemoteAddr => o.push_str(&remote.ip().to_string()),
            Var::RemotePort => o.push_str(&remote.port().to_string()),
            Var::ServerPort => o.push_str(&local.port().to_string()),
            Var::ServerAddr => o.push_str(&local.ip().to_string()),
            _ => {}
        });
    }
    let key = Key {
        client_ip: Some(remote.ip()),
        hash: key.as_bytes(),
    };
    let limit = if srv.next_upstream_tries == 0 {
        u32::MAX
    } else {
        srv.next_upstream_tries
    };
    let mut at = Attempt::default();
    let mut tries = 0;
    let (server, lease) = loop {
        let Some(lease) = up.acquire(&key, &mut at) else {
            return Err(io::Error::other("no live upstreams"));
        };
        tries += 1;
        match tokio::time::timeout(srv.connect_timeout, TcpStream::connect(lease.addr())).await {
            Ok(Ok(s)) => break (s, lease),
            Ok(Err(e)) => {
                tracing::warn!(upstream = %up.name, server = %lease.addr(), error = %e, "stream connect failed")
            }
            Err(_) => {
                tracing::warn!(upstream = %up.name, server = %lease.addr(), "stream connect timed out")
            }
        }
        lease.fail();
        if !srv.next_upstream || tries >= limit {
            return Err(io::Error::other("upstream connect failed"));
        }
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut c = Activity {
        inner: client,
        start,
        last: Arc::clone(&last),
    };
    let mut s = Activity {
        inner: server,
        start,
        last: Arc::clone(&last),
    };
    let copy = tokio::io::copy_bidirectional(&mut c, &mut s);
    tokio::pin!(copy);
    loop {
        let idle_deadline =
            start + std::time::Duration::from_millis(last.load(Relaxed)) + srv.timeout;
        tokio::select! {
            r = &mut copy => { drop(lease); return r.map(|_| ()); }
            _ = tokio::time::sleep_until(idle_deadline.into()) => {
                let now_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                if now_ms.saturating_sub(last.load(Relaxed)) >= u64::try_from(srv.timeout.as_millis()).unwrap_or(u64::MAX) {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "proxy_timeout: session idle"));
                }
            }
        }
    }
}

/// Records the time of the last byte moved, for the idle timeout, without a timer per read.
struct Activity {
    inner: TcpStream,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl Activity {
    fn touch(&self) {
        self.last.store(
            u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }
}

impl AsyncRead for Activity {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if r.is_ready() {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for Activity {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if r.is_ready() {
            this.touch();
        }
        r
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
