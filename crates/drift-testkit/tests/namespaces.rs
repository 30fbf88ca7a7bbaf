//! The testkit's own guarantees: namespaces appear, are usable, and vanish on drop and on panic.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use drift_testkit::{skip_unless_root, wait_until, Lab, Netns, HOST_IF};

fn ns_exists(name: &str) -> bool {
    Path::new(&format!("/run/netns/{name}")).exists()
}

#[test]
fn netns_is_created_with_lo_up_and_removed_on_drop() {
    skip_unless_root!();
    let ns = Netns::new().unwrap();
    let name = ns.name().to_string();
    assert!(name.len() <= 15, "{name} too long for an interface name");
    assert!(ns_exists(&name));
    let lo = ns.link("lo").unwrap();
    assert!(
        lo.flags.iter().any(|f| f == "UP"),
        "lo flags {:?}",
        lo.flags
    );
    assert_eq!(
        ns.exec_checked(&["sysctl", "-n", "net.ipv6.conf.default.accept_dad"])
            .unwrap()
            .trim(),
        "0"
    );
    drop(ns);
    assert!(!ns_exists(&name));
}

#[test]
fn netns_is_removed_and_its_processes_killed_after_a_panic() {
    skip_unless_root!();
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::panic::catch_unwind(move || {
        let ns = Netns::new().unwrap();
        let child = ns.spawn("sleep", &["300"]).unwrap();
        // A second process not owned by any guard: only the namespace sweep can kill it.
        let stray = ns.spawn("sleep", &["300"]).unwrap();
        let stray_pid = stray.pid();
        std::mem::forget(stray);
        tx.send((ns.name().to_string(), child.pid(), stray_pid))
            .unwrap();
        panic!("deliberate panic inside the lab");
    });
    assert!(result.is_err());
    let (name, pid, stray_pid) = rx.recv().unwrap();
    assert!(!ns_exists(&name), "{name} survived the panic");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "guarded child {pid} survived"
    );
    // The stray was SIGKILLed but nobody reaped it, so it may linger as a zombie (state Z) until
    // this test process exits; it must not still be running.
    let stat = std::fs::read_to_string(format!("/proc/{stray_pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "stray {stray_pid} still running: {stat}"
    );
}

#[test]
fn child_guard_captures_output_and_reports_exit() {
    skip_unless_root!();
    let ns = Netns::new().unwrap();
    let mut child = ns
        .spawn("sh", &["-c", "echo hello; echo oops >&2; exit 3"])
        .unwrap();
    let took = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        child.try_wait().ok().flatten().is_some()
    });
    assert!(took.is_some());
    assert_eq!(child.try_wait().unwrap().and_then(|s| s.code()), Some(3));
    assert_eq!(child.stdout(), "hello\n");
    assert_eq!(child.stderr(), "oops\n");
    assert!(child.logs().contains("hello"));
}

#[test]
fn run_in_executes_on_a_thread_inside_the_namespace() {
    skip_unless_root!();
    let ns = Netns::new().unwrap();
    let inode = |p: &str| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    };
    let expected = inode(&ns.path());
    let seen = ns.run_in(|| inode("/proc/thread-self/ns/net"));
    assert_eq!(seen, expected);
    assert_ne!(
        inode("/proc/thread-self/ns/net"),
        expected,
        "the test thread must stay outside"
    );
}

/// UDP round trip from `from` to `to_addr` (port 7007), using sockets created inside each namespace
/// (no dependency on `ping`, which minimal CI images lack).
fn udp_reaches(from: &Netns, to: &Netns, to_addr: std::net::SocketAddr) -> bool {
    use std::net::UdpSocket;
    let bind: std::net::SocketAddr = match to_addr {
        std::net::SocketAddr::V4(_) => "0.0.0.0:7007".parse().unwrap(),
        std::net::SocketAddr::V6(_) => "[::]:7007".parse().unwrap(),
    };
    let server = to.run_in(|| UdpSocket::bind(bind).unwrap());
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let client_bind = match to_addr {
        std::net::SocketAddr::V4(_) => "0.0.0.0:0",
        std::net::SocketAddr::V6(_) => "[::]:0",
    };
    let client = from.run_in(|| UdpSocket::bind(client_bind).unwrap());
    client.send_to(b"hello lab", to_addr).unwrap();
    let mut buf = [0u8; 32];
    matches!(server.recv_from(&mut buf), Ok((9, _))) && &buf[..9] == b"hello lab"
}

#[test]
fn two_lab_hosts_reach_each_other_over_the_bridge_v4_and_v6() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).client(true).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    assert!(udp_reaches(h1, h2, (h2.ipv4(), 7007).into()));
    assert!(udp_reaches(h1, h2, (h2.ipv6(), 7007).into()));
    assert!(udp_reaches(lab.client(), h1, (h1.ipv4(), 7007).into()));
    let ll = h2.ipv6_link_local().unwrap();
    let scope = h1.ifindex().unwrap();
    let to = std::net::SocketAddr::V6(std::net::SocketAddrV6::new(ll, 7007, 0, scope));
    assert!(udp_reaches(h1, h2, to), "link-local {ll}");
    // After talking, h1 has learnt h2's (deterministic) MAC.
    assert_eq!(
        lab.neigh_mac(0, IpAddr::V4(h2.ipv4())),
        Some(lab.mac(1).unwrap())
    );
    assert!(lab.has_addr(1, IpAddr::V4(h2.ipv4())));
    assert!(!lab.has_addr(0, IpAddr::V4(h2.ipv4())));
}

#[test]
fn lab_is_fully_removed_on_drop() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(3).client(true).build().unwrap();
    let id = lab.id().to_string();
    let names: Vec<String> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&id))
        .collect();
    assert_eq!(names.len(), 5, "bridge + 3 hosts + client: {names:?}");
    drop(lab);
    assert!(names.iter().all(|n| !ns_exists(n)));
}

#[test]
fn cutting_the_cable_drops_carrier_and_link_down_is_admin_down() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let h = lab.host(0);
    h.cut().unwrap();
    let lost = wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
        h.link(HOST_IF)
            .map(|l| l.flags.iter().any(|f| f == "NO-CARRIER"))
            .unwrap_or(false)
    });
    assert!(lost.is_some());
    h.reconnect().unwrap();
    lab.link_down(0).unwrap();
    assert!(!h.link(HOST_IF).unwrap().flags.iter().any(|f| f == "UP"));
    lab.link_up(0).unwrap();
    assert!(h.link(HOST_IF).unwrap().flags.iter().any(|f| f == "UP"));
}

#[test]
fn stale_namespaces_of_dead_creators_are_cleaned_up_and_live_ones_kept() {
    skip_unless_root!();
    // A pid that is not running: walk down from the kernel maximum until /proc has no entry.
    let dead = (1_000_000u32..4_000_000)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let mut digits = String::new();
    let mut n = dead;
    for _ in 0..5 {
        digits.insert(0, char::from_digit(n % 36, 36).unwrap());
        n /= 36;
    }
    let stale = format!("dr{digits}zzzzs");
    let status = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(status.success());
    let live = Netns::new().unwrap();
    let removed = drift_testkit::cleanup_stale_namespaces();
    assert!(removed.contains(&stale), "removed {removed:?}");
    assert!(!ns_exists(&stale));
    assert!(
        ns_exists(live.name()),
        "a live process's namespace must survive"
    );
}

#[test]
fn real_keepalived_pair_elects_one_master_holding_the_vip() {
    skip_unless_root!();
    drift_testkit::skip_unless_tool!("keepalived");
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v4(110);
    let conf = |prio: u8| {
        format!(
            "global_defs {{\n  router_id t{prio}\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface {HOST_IF}\n  \
             virtual_router_id 51\n  priority {prio}\n  advert_int 1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        )
    };
    let mut high = lab
        .host(0)
        .spawn_keepalived(&conf(150), &["--vrrp"])
        .unwrap();
    let _low = lab
        .host(1)
        .spawn_keepalived(&conf(100), &["--vrrp"])
        .unwrap();
    let took = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lab.has_addr(0, IpAddr::V4(vip))
    });
    assert!(
        took.is_some(),
        "no VIP on the high-priority host:\n{}",
        high.logs()
    );
    assert!(!lab.has_addr(1, IpAddr::V4(vip)));
    eprintln!("keepalived master elected and VIP added after {took:?}");
    // Stopping the master (SIGTERM) sends priority 0; the backup takes over.
    high.stop(Duration::from_secs(5)).unwrap();
    let failover = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        lab.has_addr(1, IpAddr::V4(vip))
    });
    assert!(failover.is_some(), "backup never took the VIP");
    eprintln!("failover after SIGTERM took {failover:?}");
}
