//! Same config, same requests: drift and a real nginx must pick the same backends for the hash
//! methods (consistent/ketama, plain hash, ip_hash) and for weighted round robin. Skips with a
//! printed reason when nginx is not installed.

mod common;

use common::{start_proxy, Backend, Client};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master (by our child's pid): it stops its workers; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn start_nginx(tag: &str, http_body: &str) -> Option<Nginx> {
    if Command::new("nginx").arg("-v").output().is_err() {
        println!("SKIP: nginx not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("drift-nginx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let d = dir.display();
    let conf = format!("worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log; events {{ worker_connections 256; }}\nhttp {{ access_log off; {http_body} }}\n");
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = Command::new("nginx")
        .args([
            "-e",
            &format!("{d}/error.log"),
            "-p",
            &d.to_string(),
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off;",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    Some(Nginx { child, dir })
}

async fn picks(addr: SocketAddr, paths: &[String]) -> Vec<String> {
    let mut c = Client::new(addr);
    let mut out = Vec::new();
    for p in paths {
        out.push(c.get(p).await.1);
    }
    out
}

async fn compare(tag: &str, method: &str, weights: [&str; 4], paths: Vec<String>) {
    let bs = [
        Backend::start("b0").await,
        Backend::start("b1").await,
        Backend::start("b2").await,
        Backend::start("b3").await,
    ];
    let servers: String = bs
        .iter()
        .zip(weights)
        .map(|(b, w)| format!("server {} {w};", b.addr))
        .collect();
    let port = free_port();
    let body = |listen: &str| {
        format!("upstream app {{ {method} {servers} }} server {{ listen {listen}; location / {{ proxy_pass http://app; }} }}")
    };
    let Some(_ngx) = start_nginx(tag, &body(&format!("127.0.0.1:{port}"))) else {
        return;
    };
    let (_h, drift) = start_proxy(&format!("http {{ {} }}", body("127.0.0.1:0"))).await;
    let theirs = picks(SocketAddr::from(([127, 0, 0, 1], port)), &paths).await;
    let ours = picks(drift, &paths).await;
    assert!(
        theirs.iter().all(|s| s.starts_with('b')),
        "nginx answered: {:?}",
        &theirs[..3]
    );
    let same = theirs.iter().zip(&ours).filter(|(a, b)| a == b).count();
    assert_eq!(
        same,
        paths.len(),
        "{method}: drift agrees with nginx on {same}/{}",
        paths.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_matches_nginx_key_for_key() {
    let paths = (0..300).map(|k| format!("/?k=user{k}")).collect();
    compare(
        "chash",
        "hash $arg_k consistent;",
        ["weight=1", "weight=2", "weight=1", "weight=3"],
        paths,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_hash_matches_nginx_key_for_key() {
    let paths = (0..300).map(|k| format!("/item/{k}")).collect();
    compare(
        "hash",
        "hash $request_uri;",
        ["weight=1", "weight=2", "weight=1", "weight=3"],
        paths,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_sequence_matches_nginx() {
    let paths = (0..40).map(|_| "/".to_string()).collect();
    compare(
        "wrr",
        "",
        ["weight=5", "weight=1", "weight=3", "weight=1"],
        paths,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_hash_matches_nginx_per_client_network() {
    let bs = [
        Backend::start("b0").await,
        Backend::start("b1").await,
        Backend::start("b2").await,
        Backend::start("b3").await,
    ];
    let servers: String = bs
        .iter()
        .zip(["weight=1", "weight=2", "weight=1", "weight=3"])
        .map(|(b, w)| format!("server {} {w};", b.addr))
        .collect();
    let port = free_port();
    let body = |listen: &str| {
        format!("upstream app {{ ip_hash; {servers} }} server {{ listen {listen}; location / {{ proxy_pass http://app; }} }}")
    };
    let Some(_ngx) = start_nginx("iphash", &body(&format!("127.0.0.1:{port}"))) else {
        return;
    };
    let (_h, drift) = start_proxy(&format!("http {{ {} }}", body("127.0.0.1:0"))).await;
    let nginx = SocketAddr::from(([127, 0, 0, 1], port));
    let mut agree = 0;
    let mut seen = std::collections::HashSet::new();
    for x in 1..=60u8 {
        // ip_hash keys on the first three octets: vary the third one.
        let src = std::net::IpAddr::from([127, 0, x, 1]);
        let theirs = Client::from_source(nginx, src).get("/").await.1;
        let ours = Client::from_source(drift, src).get("/").await.1;
        seen.insert(ours.clone());
        agree += usize::from(theirs == ours);
    }
    assert_eq!(
        agree, 60,
        "ip_hash: drift agrees with nginx for {agree}/60 client networks"
    );
    assert!(seen.len() > 1, "clients spread over servers: {seen:?}");
}
