//! Link lookup by name or index.

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};

use super::{nl_errno, Netlink};
use crate::{Error, Result};

/// RFC 2863 operational state, as the kernel reports it in IFLA_OPERSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperState {
    Up,
    Down,
    LowerLayerDown,
    Dormant,
    Testing,
    NotPresent,
    /// Drivers that do not report a state (e.g. `lo`, some virtual devices).
    Unknown,
}

/// What drift needs to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Hardware address (6 bytes for Ethernet), if the link has one.
    pub mac: Option<Vec<u8>>,
    /// IFF_UP: administratively up.
    pub admin_up: bool,
    /// IFF_RUNNING: up with carrier, the test keepalived uses for "interface is usable".
    pub running: bool,
    pub oper_state: OperState,
}

impl Link {
    /// keepalived treats an interface as up when it is both IFF_UP and IFF_RUNNING.
    pub fn is_usable(&self) -> bool {
        self.admin_up && self.running
    }

    pub(crate) fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            admin_up: msg.header.flags.contains(LinkFlags::Up),
            running: msg.header.flags.contains(LinkFlags::Running),
            oper_state: OperState::Unknown,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = Some(a.clone()),
                LinkAttribute::OperState(s) => link.oper_state = oper_state(s),
                _ => {}
            }
        }
        link
    }
}

fn oper_state(s: &State) -> OperState {
    match s {
        State::Up => OperState::Up,
        State::Down => OperState::Down,
        State::LowerLayerDown => OperState::LowerLayerDown,
        State::Dormant => OperState::Dormant,
        State::Testing => OperState::Testing,
        State::NotPresent => OperState::NotPresent,
        _ => OperState::Unknown,
    }
}

const ENODEV: i32 = libc::ENODEV;

impl Netlink {
    /// Look a link up by name; `Error::LinkNotFound` if absent.
    pub async fn link_by_name(&self, name: &str) -> Result<Link> {
        let req = self
            .handle()
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        first_link(req, name).await
    }

    /// Look a link up by index; `Error::LinkNotFound` if absent.
    pub async fn link_by_index(&self, index: u32) -> Result<Link> {
        let req = self.handle().link().get().match_index(index).execute();
        first_link(req, &format!("index {index}")).await
    }

    /// Every link in this namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle()
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "dump links",
                target: "all".into(),
                source,
            })?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }
}

async fn first_link(
    mut stream: impl futures::Stream<Item = Result<LinkMessage, rtnetlink::Error>> + Unpin,
    what: &str,
) -> Result<Link> {
    match stream.try_next().await {
        Ok(Some(msg)) => Ok(Link::from_message(&msg)),
        Ok(None) => Err(Error::LinkNotFound(what.to_string())),
        Err(e) if nl_errno(&e) == Some(ENODEV) => Err(Error::LinkNotFound(what.to_string())),
        Err(source) => Err(Error::Netlink {
            op: "get link",
            target: what.to_string(),
            source,
        }),
    }
}
