//! rtnetlink access: link lookup, VIP add/remove, and a stream of link/address change events.
//!
//! A [`Netlink`] owns one rtnetlink connection whose I/O task runs on the current tokio runtime
//! (a current_thread runtime on the VRRP thread is fine). The socket belongs to the network
//! namespace of the thread that called [`Netlink::new`].

mod addr;
mod events;
mod link;
mod route;

pub use addr::{AddOutcome, AddrEntry, AddrScope, AddressSpec, DelOutcome};
pub use events::{subscribe, NetEvent, NetEvents};
pub use link::{Link, OperState};
pub use route::{RouteKind, RouteScopeSpec, RouteSpec};

use crate::{Error, Result};

/// One rtnetlink connection; dropping it stops its background task.
pub struct Netlink {
    handle: rtnetlink::Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Netlink {
    /// Open a connection in the calling thread's network namespace.
    ///
    /// Must be called from within a tokio runtime (it spawns the connection's I/O task).
    pub fn new() -> Result<Netlink> {
        let (conn, handle, _unsolicited) = rtnetlink::new_connection()
            .map_err(|e| Error::io("open rtnetlink socket", "NETLINK_ROUTE", e))?;
        let task = tokio::spawn(conn);
        Ok(Netlink { handle, task })
    }

    pub(crate) fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").finish_non_exhaustive()
    }
}

/// The positive errno in a netlink NACK, if that is what `e` is.
pub(crate) fn nl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}
