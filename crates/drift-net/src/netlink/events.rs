//! Link and address change notifications (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR),
//! which interface trackers and "someone removed our VIP" detection are built on.

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use rtnetlink::MulticastGroup;

use super::{AddrEntry, Link};
use crate::{Error, Result};

/// A change reported by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// RTM_NEWLINK: a link appeared or changed (flags, carrier, name...). Compare
    /// [`Link::is_usable`] with the previous value to get up/down transitions.
    Link(Link),
    /// RTM_DELLINK: the link is gone.
    LinkRemoved(Link),
    AddrAdded(AddrEntry),
    AddrRemoved(AddrEntry),
    /// The kernel dropped notifications because our socket buffer was full (ENOBUFS): state may
    /// have changed unseen, so re-read links/addresses (RFC-independent, but keepalived does the same).
    Overrun,
}

/// Socket receive buffer for notifications; bursts (many VIPs moved at once) must not overflow it.
const EVENT_RCVBUF: usize = 1 << 20;

/// A subscription; drop it to unsubscribe (stops its socket task).
pub struct NetEvents {
    rx: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    task: tokio::task::JoinHandle<()>,
}

/// Subscribe to link and address events in the calling thread's network namespace.
///
/// Must be called inside a tokio runtime. Events that happen after this returns are delivered;
/// to avoid a gap, take a snapshot (e.g. [`super::Netlink::link_by_name`]) *after* subscribing.
pub fn subscribe() -> Result<NetEvents> {
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ];
    let (conn, _handle, rx) = rtnetlink::new_multicast_connection(&groups).map_err(|e| {
        Error::io(
            "subscribe rtnetlink groups",
            "LINK+IPV4_IFADDR+IPV6_IFADDR",
            e,
        )
    })?;
    let mut conn = conn;
    // Best effort: the kernel caps it at net.core.rmem_max; Overrun events cover the rest.
    let _ = conn.socket_mut().socket_mut().set_rx_buf_sz(EVENT_RCVBUF);
    let task = tokio::spawn(conn);
    Ok(NetEvents { rx, task })
}

impl NetEvents {
    /// The next event; `None` if the netlink socket closed.
    ///
    /// If the reader fell behind and the kernel dropped notifications, [`NetEvent::Overrun`] is
    /// delivered; resync from a fresh dump then.
    pub async fn recv(&mut self) -> Option<NetEvent> {
        loop {
            let (msg, _) = self.rx.next().await?;
            if let Some(ev) = to_event(msg) {
                return Some(ev);
            }
        }
    }
}

impl Drop for NetEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for NetEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetEvents").finish_non_exhaustive()
    }
}

fn to_event(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
    let inner = match msg.payload {
        NetlinkPayload::InnerMessage(inner) => inner,
        NetlinkPayload::Overrun(_) => return Some(NetEvent::Overrun),
        _ => return None,
    };
    match inner {
        RouteNetlinkMessage::NewLink(m) => Some(NetEvent::Link(Link::from_message(&m))),
        RouteNetlinkMessage::DelLink(m) => Some(NetEvent::LinkRemoved(Link::from_message(&m))),
        RouteNetlinkMessage::NewAddress(m) => AddrEntry::from_message(&m).map(NetEvent::AddrAdded),
        RouteNetlinkMessage::DelAddress(m) => {
            AddrEntry::from_message(&m).map(NetEvent::AddrRemoved)
        }
        _ => None,
    }
}
