//! Prometheus metrics (prometheus-client, OpenMetrics text on `GET /metrics` of the admin port).
//!
//! Nothing is counted twice: the VRRP side is a [`Collector`] that reads the status
//! [`Snapshot`] at scrape time (whose counters are drift-vrrp's own `Stats`), so the VRRP thread
//! does no metrics work at all. The load balancer plugs in through [`UpstreamSource`]
//! (per-server requests, errors, latency histogram, health) or, for anything else, by
//! registering its own collector in [`registry`]'s `extra` hook.

use std::fmt::Debug;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::status::{Hub, Snapshot};

/// One load-balancer server, as the proxy reports it at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamReport {
    pub upstream: String,
    pub server: String,
    pub healthy: bool,
    pub requests: u64,
    pub errors: u64,
    pub active: u64,
    /// Requests answered in a pipelined batch (`pipeline N`).
    pub pipelined: u64,
    /// Sum of request latencies in seconds.
    pub latency_sum: f64,
    /// `(upper bound in seconds, requests in this bucket only)`, ascending; the requests above
    /// the last bound go to `+Inf` (the encoder makes the counts cumulative).
    pub latency_buckets: Vec<(f64, u64)>,
}

/// What the proxy glue implements to appear in metrics, `drift status` and the admin page.
pub trait UpstreamSource: Send + Sync + Debug {
    fn upstreams(&self) -> Vec<UpstreamReport>;
}

/// The registry served on `/metrics`: drift's VRRP collector, the proxy's servers when
/// `upstreams` is given, and any `extra` collectors (the hook for other subsystems).
pub fn registry(
    hub: Arc<Hub>,
    upstreams: Option<Arc<dyn UpstreamSource>>,
    extra: Vec<Box<dyn Collector>>,
) -> Registry {
    let mut r = Registry::with_prefix("drift");
    r.register_collector(Box::new(VrrpCollector { hub }));
    if let Some(u) = upstreams {
        r.register_collector(Box::new(UpstreamCollector { source: u }));
    }
    for c in extra {
        r.register_collector(c);
    }
    r
}

/// OpenMetrics text of the whole registry.
pub fn render(r: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, r) {
        tracing::warn!("metrics encoding failed: {e}");
    }
    out
}

#[derive(Debug)]
struct VrrpCollector {
    hub: Arc<Hub>,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// One metric family: a descriptor, then one sample per label set.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: Vec<(Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        v.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter_family<'a>(
    enc: &mut DescriptorEncoder,
    snap: &'a Snapshot,
    name: &str,
    help: &str,
    f: impl Fn(&'a super::status::Counters) -> u64,
) -> Result<(), std::fmt::Error> {
    let samples = snap
        .instances
        .iter()
        .map(|i| {
            (
                vec![("instance", i.name.as_str())],
                ConstCounter::new(f(&i.counters)),
            )
        })
        .collect();
    family(enc, name, help, MetricType::Counter, samples)
}

const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

impl Collector for VrrpCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.hub.snapshot();
        let mut states = Vec::new();
        let mut prio = Vec::new();
        let mut transitions = Vec::new();
        let mut drops = Vec::new();
        let mut trackers = Vec::new();
        for i in &snap.instances {
            let name = i.name.as_str();
            for s in STATES {
                let v = i64::from(i.state == s);
                states.push((vec![("instance", name), ("state", s)], ConstGauge::new(v)));
            }
            for (kind, p) in [
                ("base", i.base_priority),
                ("effective", i.effective_priority),
            ] {
                let labels = vec![("instance", name), ("kind", kind)];
                prio.push((labels, ConstGauge::new(i64::from(p))));
            }
            transitions.push((vec![("instance", name)], ConstCounter::new(i.transitions)));
            for (reason, n) in i.drops.iter() {
                let labels = vec![("instance", name), ("reason", reason)];
                drops.push((labels, ConstCounter::new(n)));
            }
            for t in &i.trackers {
                let labels = vec![
                    ("instance", name),
                    ("tracker", t.name.as_str()),
                    ("kind", t.kind.as_str()),
                ];
                trackers.push((labels, ConstGauge::new(i64::from(t.up))));
            }
        }
        family(
            &mut enc,
            "vrrp_state",
            "1 for the instance's current VRRP state (INIT, BACKUP, MASTER, FAULT)",
            MetricType::Gauge,
            states,
        )?;
        family(
            &mut enc,
            "vrrp_priority",
            "Configured (base) and tracker-adjusted (effective) priority",
            MetricType::Gauge,
            prio,
        )?;
        family(
            &mut enc,
            "vrrp_transitions",
            "State changes since the instance started",
            MetricType::Counter,
            transitions,
        )?;
        counter_family(
            &mut enc,
            &snap,
            "vrrp_adverts_received",
            "Adverts accepted",
            |c| c.adverts_rx,
        )?;
        counter_family(&mut enc, &snap, "vrrp_adverts_sent", "Adverts sent", |c| {
            c.adverts_tx
        })?;
        counter_family(
            &mut enc,
            &snap,
            "vrrp_became_master",
            "Transitions to MASTER",
            |c| c.became_master,
        )?;
        counter_family(
            &mut enc,
            &snap,
            "vrrp_priority_zero_received",
            "Priority-0 adverts received (a master resigning)",
            |c| c.priority_zero_rx,
        )?;
        counter_family(
            &mut enc,
            &snap,
            "vrrp_released_master",
            "Transitions out of MASTER",
            |c| c.released_master,
        )?;
        counter_family(
            &mut enc,
            &snap,
            "vrrp_priority_zero_sent",
            "Priority-0 adverts sent (resigning at shutdown)",
            |c| c.priority_zero_tx,
        )?;
        family(
            &mut enc,
            "vrrp_dropped_packets",
            "Received VRRP packets dropped, by reason",
            MetricType::Counter,
            drops,
        )?;
        let u = snap.unmatched;
        family(
            &mut enc,
            "vrrp_unmatched_packets",
            "Received VRRP packets no instance runs for (unknown VRID, or too short to carry one)",
            MetricType::Counter,
            vec![
                (
                    vec![("reason", "unknown_vrid")],
                    ConstCounter::new(u.unknown_vrid),
                ),
                (vec![("reason", "runt")], ConstCounter::new(u.runt)),
            ],
        )?;
        family(
            &mut enc,
            "vrrp_tracker_up",
            "1 while a tracked interface is usable or a track script succeeds",
            MetricType::Gauge,
            trackers,
        )?;
        family(
            &mut enc,
            "reloads",
            "Configuration reloads finished (applied or refused)",
            MetricType::Counter,
            vec![(Vec::new(), ConstCounter::new(snap.reloads))],
        )?;
        let age = self.hub.heartbeat_age().as_secs_f64();
        family(
            &mut enc,
            "vrrp_loop_idle_seconds",
            "Time since the VRRP loop last turned (it wakes at least once a second)",
            MetricType::Gauge,
            vec![(Vec::new(), ConstGauge::new(age))],
        )?;
        Ok(())
    }
}

#[derive(Debug)]
struct UpstreamCollector {
    source: Arc<dyn UpstreamSource>,
}

impl Collector for UpstreamCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ups = self.source.upstreams();
        let labels = |u: &UpstreamReport| {
            vec![
                ("upstream", u.upstream.clone()),
                ("server", u.server.clone()),
            ]
        };
        let mut m = enc.encode_descriptor(
            "upstream_requests",
            "Requests sent to the server",
            None,
            MetricType::Counter,
        )?;
        for u in &ups {
            ConstCounter::new(u.requests).encode(m.encode_family(&labels(u))?)?;
        }
        let mut m = enc.encode_descriptor(
            "upstream_errors",
            "Requests to the server that failed",
            None,
            MetricType::Counter,
        )?;
        for u in &ups {
            ConstCounter::new(u.errors).encode(m.encode_family(&labels(u))?)?;
        }
        let mut m = enc.encode_descriptor(
            "upstream_pipelined_requests",
            "Requests that shared one upstream write with others (pipeline N) and were answered in it",
            None,
            MetricType::Counter,
        )?;
        for u in &ups {
            ConstCounter::new(u.pipelined).encode(m.encode_family(&labels(u))?)?;
        }
        let mut m = enc.encode_descriptor(
            "upstream_healthy",
            "1 while the server is usable (health checks and passive failures)",
            None,
            MetricType::Gauge,
        )?;
        for u in &ups {
            ConstGauge::new(i64::from(u.healthy)).encode(m.encode_family(&labels(u))?)?;
        }
        let mut m = enc.encode_descriptor(
            "upstream_latency_seconds",
            "Time from picking the server to the end of the upstream exchange",
            None,
            MetricType::Histogram,
        )?;
        for u in &ups {
            let mut buckets = u.latency_buckets.clone();
            let counted: u64 = buckets.iter().map(|b| b.1).sum();
            buckets.push((f64::INFINITY, u.requests.saturating_sub(counted)));
            m.encode_family(&labels(u))?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    u.latency_sum,
                    u.requests,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::InstanceStatus;

    #[derive(Debug)]
    struct OneServer;
    impl UpstreamSource for OneServer {
        fn upstreams(&self) -> Vec<UpstreamReport> {
            vec![UpstreamReport {
                upstream: "web".into(),
                server: "10.0.0.5:80".into(),
                healthy: true,
                requests: 10,
                errors: 1,
                active: 0,
                pipelined: 3,
                latency_sum: 0.5,
                latency_buckets: vec![(0.01, 4), (0.1, 5)],
            }]
        }
    }

    fn hub_with(i: InstanceStatus) -> Arc<Hub> {
        let hub = Arc::new(Hub::new(std::path::Path::new("/k.conf")));
        hub.replace_instances_for_test(vec![i]);
        hub
    }

    #[test]
    fn vrrp_metrics_show_state_counters_and_drop_reasons() {
        let snap = crate::daemon::dumps::tests::sample();
        let hub = hub_with(snap.instances[0].clone());
        let text = render(&registry(hub, None, Vec::new()));
        assert!(
            text.contains("drift_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1"),
            "{text}"
        );
        assert!(text.contains("drift_vrrp_state{instance=\"VI_1\",state=\"BACKUP\"} 0"));
        assert!(text.contains("drift_vrrp_adverts_sent_total{instance=\"VI_1\"} 17"));
        assert!(text.contains("drift_vrrp_transitions_total{instance=\"VI_1\"} 2"));
        assert!(text
            .contains("drift_vrrp_dropped_packets_total{instance=\"VI_1\",reason=\"checksum\"} 5"));
        assert!(text.contains("drift_vrrp_priority{instance=\"VI_1\",kind=\"effective\"} 100"));
        assert!(text.contains("drift_reloads_total 0"));
        assert!(text.contains("drift_vrrp_loop_idle_seconds "));
        assert!(text.contains("drift_vrrp_unmatched_packets_total{reason=\"runt\"} 0"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn packets_for_no_instance_show_by_reason() {
        let hub = Arc::new(Hub::new(std::path::Path::new("/k.conf")));
        hub.unmatched.count(&[0x31, 99]);
        hub.unmatched.count(&[0x31, 98]);
        let text = render(&registry(hub, None, Vec::new()));
        assert!(
            text.contains("drift_vrrp_unmatched_packets_total{reason=\"unknown_vrid\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn upstream_servers_get_requests_errors_health_and_a_latency_histogram() {
        let hub = Arc::new(Hub::new(std::path::Path::new("/k.conf")));
        let text = render(&registry(hub, Some(Arc::new(OneServer)), Vec::new()));
        let l = "upstream=\"web\",server=\"10.0.0.5:80\"";
        assert!(
            text.contains(&format!("drift_upstream_requests_total{{{l}}} 10")),
            "{text}"
        );
        assert!(text.contains(&format!("drift_upstream_errors_total{{{l}}} 1")));
        assert!(text.contains(&format!("drift_upstream_pipelined_requests_total{{{l}}} 3")));
        assert!(text.contains(&format!("drift_upstream_healthy{{{l}}} 1")));
        assert!(
            text.contains(&format!(
                "drift_upstream_latency_seconds_bucket{{le=\"0.1\",{l}}} 9"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("drift_upstream_latency_seconds_count{{{l}}} 10")));
    }
}
