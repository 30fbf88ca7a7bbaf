//! Times a full check of a generated keepalived.conf with N instances (default 10,000).
//! `cargo run --release -p drift-config --example bench_check [-- N]`
use std::fmt::Write;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut text =
        String::from("global_defs {\n  router_id bench\n  vrrp_garp_master_delay 3\n}\n");
    text.push_str("vrrp_script chk {\n  script \"/bin/true\"\n  interval 2\n  weight -10\n}\n");
    for i in 0..n {
        // Unicast instances on `lo`: present on every Linux host (no "interface doesn't exist"
        // warnings) and, being unicast, allowed to reuse VRIDs, so 10,000 instances are valid.
        let (a, b, c) = ((i >> 16) & 255, (i >> 8) & 255, i & 255);
        let _ = write!(
            text,
            "vrrp_instance VI_{i} {{\n  state BACKUP\n  interface lo\n  virtual_router_id {}\n  priority 100\n  advert_int 1\n  \
             authentication {{\n    auth_type PASS\n    auth_pass 1111\n  }}\n  unicast_src_ip 10.{a}.{b}.{c}\n  \
             unicast_peer {{\n    11.{a}.{b}.{c}\n  }}\n  track_script {{\n    chk\n  }}\n  \
             virtual_ipaddress {{\n    12.{a}.{b}.{c}/24 dev lo label lo:{}\n  }}\n}}\n",
            i % 255 + 1,
            i % 1000
        );
    }
    let path = std::env::temp_dir().join(format!("drift-bench-{}.conf", std::process::id()));
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let checked = drift_config::check_file(&path);
        times.push(t.elapsed());
        last = Some(checked);
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    let Some(checked) = last else { return };
    let instances = checked
        .model
        .as_ref()
        .map(|m| m.instances.len())
        .unwrap_or(0);
    println!(
        "check of {n} instances ({} KiB, {} lines): min {:.1} ms, median {:.1} ms, max {:.1} ms over 5 runs; {} errors, {} warnings, {instances} instances in model",
        text.len() / 1024,
        text.lines().count(),
        times[0].as_secs_f64() * 1e3,
        times[2].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3,
        checked.errors.len(),
        checked.warnings.len(),
    );
    let t = Instant::now();
    let printed = checked
        .model
        .as_ref()
        .map(drift_config::print_conf)
        .unwrap_or_default();
    println!(
        "print_conf: {:.1} ms ({} KiB)",
        t.elapsed().as_secs_f64() * 1e3,
        printed.len() / 1024
    );
}
