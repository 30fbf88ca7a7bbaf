//! Listen address -> virtual server (by Host, nginx `server_name`) -> location (exact, then
//! longest prefix). Built once at start; the request path only compares strings.

use super::pool::Pool;
use crate::config::model::{HttpServer, Location, LocationMatch};
use crate::upstream::Upstream;
use std::sync::Arc;

pub struct Route {
    pub loc: Location,
    /// `proxy_set_header` and `Host`, parsed once.
    pub set: super::headers::SetHeaders,
    pub upstream: Arc<Upstream>,
    pub pool: Arc<Pool>,
}

pub struct Site {
    names: Vec<String>,
    exact: Vec<(String, Arc<Route>)>,
    /// Sorted longest first, so the first match is nginx's longest prefix.
    prefix: Vec<(String, Arc<Route>)>,
}

impl Site {
    pub fn new(srv: &HttpServer, upstreams: &[Arc<Upstream>], pools: &[Arc<Pool>]) -> Site {
        let mut exact = Vec::new();
        let mut prefix = Vec::new();
        for l in &srv.locations {
            let r = Arc::new(Route {
                set: super::headers::SetHeaders::new(l),
                loc: l.clone(),
                upstream: Arc::clone(&upstreams[l.upstream]),
                pool: Arc::clone(&pools[l.upstream]),
            });
            match &l.matcher {
                LocationMatch::Exact(p) => exact.push((p.clone(), r)),
                LocationMatch::Prefix(p) => prefix.push((p.clone(), r)),
            }
        }
        prefix.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Site {
            names: srv.server_names.clone(),
            exact,
            prefix,
        }
    }

    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.exact
            .iter()
            .find(|(p, _)| p == path)
            .or_else(|| {
                self.prefix
                    .iter()
                    .find(|(p, _)| path.starts_with(p.as_str()))
            })
            .map(|(_, r)| r)
    }

    fn matches(&self, host: &str) -> bool {
        self.names.iter().any(|n| {
            n == host
                || n.strip_prefix('*')
                    .is_some_and(|suffix| host.ends_with(suffix))
                || n.strip_suffix('*').is_some_and(|pre| host.starts_with(pre))
        })
    }
}

/// The virtual servers sharing one listen address; the first is the default (nginx picks the
/// first declared unless `default_server` says otherwise).
pub struct Router {
    pub sites: Vec<Site>,
    /// Client-side limits of the `http` block (a reload may change them).
    pub limits: super::ClientLimits,
}

impl Router {
    pub fn site(&self, host: Option<&str>) -> Option<&Site> {
        // One virtual server on the address (the usual case): no Host to look at.
        if self.sites.len() == 1 {
            return self.sites.first();
        }
        let host = host.map(|h| h.split(':').next().unwrap_or(h));
        let lower;
        let host = match host {
            Some(h) if h.bytes().any(|b| b.is_ascii_uppercase()) => {
                lower = h.to_ascii_lowercase();
                Some(lower.as_str())
            }
            h => h,
        };
        host.and_then(|h| self.sites.iter().find(|s| s.matches(h)))
            .or(self.sites.first())
    }
}

/// Path sent upstream: with `proxy_pass http://u/new/`, the matched location prefix is replaced.
pub fn upstream_path(loc: &Location, path: &str, query: Option<&str>) -> String {
    let mut p = match (&loc.uri, &loc.matcher) {
        (None, _) => path.to_string(),
        (Some(u), LocationMatch::Exact(_)) => u.clone(),
        (Some(u), LocationMatch::Prefix(pre)) => {
            format!("{u}{}", path.get(pre.len()..).unwrap_or(""))
        }
    };
    if let Some(q) = query {
        p.push('?');
        p.push_str(q);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(m: LocationMatch, uri: Option<&str>) -> Location {
        let cfg = crate::config::check_str(
            "t",
            "http { server { listen 1; location / { proxy_pass http://127.0.0.1:9; } } }",
        );
        let mut l = cfg
            .ok()
            .and_then(|c| c.http)
            .map(|h| h.servers[0].locations[0].clone())
            .unwrap_or_else(|| unreachable!());
        l.matcher = m;
        l.uri = uri.map(str::to_string);
        l
    }

    #[test]
    fn proxy_pass_without_uri_passes_the_path_unchanged() {
        assert_eq!(
            upstream_path(
                &loc(LocationMatch::Prefix("/api/".into()), None),
                "/api/x",
                Some("a=1")
            ),
            "/api/x?a=1"
        );
    }

    #[test]
    fn proxy_pass_with_uri_replaces_the_matched_prefix() {
        assert_eq!(
            upstream_path(
                &loc(LocationMatch::Prefix("/api/".into()), Some("/v2/")),
                "/api/x",
                None
            ),
            "/v2/x"
        );
        assert_eq!(
            upstream_path(
                &loc(LocationMatch::Exact("/e".into()), Some("/other")),
                "/e",
                Some("q")
            ),
            "/other?q"
        );
    }
}
