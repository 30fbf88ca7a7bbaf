use std::io;

/// Errors from drift-net; each names the operation and the object it was applied to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket or ioctl-level call failed.
    #[error("{op} on {target}: {source}")]
    Io {
        op: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
    /// The kernel answered a netlink request with an error.
    #[error("netlink {op} on {target}: {source}")]
    Netlink {
        op: &'static str,
        target: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// No interface with that name or index exists (in this thread's network namespace).
    #[error("no such interface: {0}")]
    LinkNotFound(String),
    /// The request cannot be expressed (e.g. an IPv4 broadcast on an IPv6 address).
    #[error("invalid request: {0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, target: impl ToString, source: io::Error) -> Error {
        Error::Io {
            op,
            target: target.to_string(),
            source,
        }
    }

    /// The errno the kernel reported, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Netlink {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => m.code.map(|c| c.get().abs()),
            _ => None,
        }
    }
}

/// Attach context to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, target: impl ToString) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, target: impl ToString) -> Result<T> {
        self.map_err(|e| Error::io(op, target, e))
    }
}
