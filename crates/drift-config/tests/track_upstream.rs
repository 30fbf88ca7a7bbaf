//! drift's `track_upstream` extension: read in both spellings, and printed back readable.

use drift_model::TrackRef;

fn instance_with(body: &str) -> drift_config::Checked<drift_config::Config> {
    let text = format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority 100\n  virtual_ipaddress {{\n    10.0.0.110\n  }}\n{body}\n}}\n"
    );
    drift_config::parse_str("test.conf", &text)
}

fn tracked(c: &drift_config::Checked<drift_config::Config>) -> Vec<TrackRef> {
    c.model
        .as_ref()
        .map(|m| m.instances[0].track_upstream.clone())
        .unwrap_or_default()
}

#[test]
fn a_block_of_upstream_references_is_read_like_track_script() {
    let c = instance_with("  track_upstream {\n    web\n    api weight -20\n  }");
    assert!(c.errors.is_empty(), "{}", c.render());
    let t = tracked(&c);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].name.as_str(), t[0].weight), ("web", None));
    assert_eq!((t[1].name.as_str(), t[1].weight), ("api", Some(-20)));
}

#[test]
fn the_one_line_form_names_one_upstream_with_an_optional_weight() {
    let c = instance_with("  track_upstream web weight 0\n  track_upstream api");
    assert!(c.errors.is_empty(), "{}", c.render());
    let t = tracked(&c);
    assert_eq!((t[0].name.as_str(), t[0].weight), ("web", Some(0)));
    assert_eq!((t[1].name.as_str(), t[1].weight), ("api", None));
}

#[test]
fn a_bad_weight_or_a_missing_name_is_an_error() {
    assert!(!instance_with("  track_upstream web weight lots")
        .errors
        .is_empty());
    assert!(!instance_with("  track_upstream").errors.is_empty());
}

#[test]
fn the_canonical_dump_keeps_the_references() {
    let c = instance_with("  track_upstream web weight -30");
    let text = drift_config::print_conf(c.model.as_ref().expect("valid config"));
    assert!(text.contains("track_upstream {"), "{text}");
    assert!(text.contains("web weight -30"), "{text}");
    let again = drift_config::parse_str("again.conf", &text);
    assert_eq!(tracked(&again), tracked(&c));
}
