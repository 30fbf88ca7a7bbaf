//! Protocol switches (WebSocket): after both sides agree on 101, the two upgraded connections are
//! joined and bytes copied both ways until either side closes.

use super::headers::strip_hop_by_hop;
use super::proxy::ProxyBody;
use crate::upstream::Lease;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

pub fn relay_upgrade(
    mut resp: Response<Incoming>,
    client: OnUpgrade,
    lease: Lease,
) -> Response<ProxyBody> {
    let server = hyper::upgrade::on(&mut resp);
    let (mut parts, _) = resp.into_parts();
    let proto = parts.headers.get(UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers, true);
    parts
        .headers
        .insert(CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(p) = proto {
        parts.headers.insert(UPGRADE, p);
    }
    tokio::spawn(async move {
        // The lease lives as long as the tunnel so least_conn sees long-lived sockets.
        let _lease = lease;
        match tokio::try_join!(client, server) {
            Ok((c, s)) => {
                let (mut c, mut s) = (TokioIo::new(c), TokioIo::new(s));
                if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut s).await {
                    tracing::debug!(error = %e, "upgraded tunnel ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    Response::from_parts(parts, Empty::new().map_err(|e| match e {}).boxed())
}
