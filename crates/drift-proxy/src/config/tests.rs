use super::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/nginx")
        .join(name)
}

fn errors(text: &str) -> Vec<String> {
    match check_str("t.conf", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn article_config_loads_as_written() {
    let cfg = check_file(&fixture("article.conf"));
    let Ok(cfg) = cfg else {
        panic!("{}", render_all(&cfg.err().unwrap_or_default()))
    };
    let http = cfg.http.unwrap_or_else(|| panic!("no http"));
    assert_eq!(http.upstreams[0].name, "esbwebserver");
    assert_eq!(http.upstreams[0].servers.len(), 2);
    assert_eq!(http.servers[0].listen[0].port(), 18080);
    let loc = &http.servers[0].locations[0];
    assert_eq!(loc.matcher, LocationMatch::Prefix("/".into()));
    assert_eq!(loc.proxy_host, "esbwebserver");
    assert!(
        !loc.http_version_11,
        "nginx default proxy_http_version is 1.0"
    );
    assert_eq!(loc.connect_timeout, Duration::from_secs(60));
}

#[test]
fn full_example_loads_with_every_feature() {
    let cfg = check_file(&fixture("full.conf"));
    let Ok(cfg) = cfg else {
        panic!("{}", render_all(&cfg.err().unwrap_or_default()))
    };
    assert_eq!(cfg.worker_connections, 4096);
    let http = cfg.http.unwrap_or_else(|| panic!("no http"));
    assert_eq!(http.client_header_timeout, Duration::from_secs(10));
    let app = &http.upstreams[0];
    assert_eq!(app.balance, Balance::LeastConn);
    assert_eq!(app.keepalive, 32);
    let s0 = &app.servers[0];
    assert_eq!(
        (s0.weight, s0.max_fails, s0.fail_timeout),
        (3, 2, Duration::from_secs(5))
    );
    assert_eq!(app.servers[1].max_conns, 100);
    assert!(app.servers[2].backup && app.servers[3].down);
    let hc = app
        .health_check
        .clone()
        .unwrap_or_else(|| panic!("no health_check"));
    assert_eq!(
        (hc.interval, hc.rise, hc.fall),
        (Duration::from_secs(1), 2, 3)
    );
    assert_eq!(
        hc.kind,
        HealthKind::Http {
            uri: "/health".into(),
            statuses: vec![(200, 200)]
        }
    );
    let loc = &http.servers[0].locations[0];
    assert!(loc.http_version_11, "inherited from server level");
    assert_eq!(
        loc.set_headers.len(),
        3,
        "location list replaces the server's, as in nginx"
    );
    assert!(loc.next_upstream.http_502 && !loc.next_upstream.http_500);
    assert_eq!(loc.next_upstream_tries, 3);
    let stat = &http.servers[0].locations[1];
    assert_eq!(stat.matcher, LocationMatch::Exact("/static".into()));
    assert_eq!(stat.uri.as_deref(), Some("/assets/"));
    assert_eq!(
        stat.set_headers.len(),
        1,
        "server-level Connection header inherited"
    );
    let stream = cfg.stream.unwrap_or_else(|| panic!("no stream"));
    assert_eq!(stream.servers[0].timeout, Duration::from_secs(300));
    assert_eq!(
        stream.upstreams[0]
            .health_check
            .as_ref()
            .map(|h| h.kind.clone()),
        Some(HealthKind::Tcp)
    );
}

#[test]
fn unknown_directive_is_reported_with_location_and_caret() {
    let e = errors("http {\n  upstream u { server 127.0.0.1:1; }\n  server { listen 1; bogus 1;\n location / { proxy_pass http://u; } } }");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.conf:3:22: error: unknown directive \"bogus\""),
        "{}",
        e[0]
    );
    assert!(
        e[0].ends_with("  server { listen 1; bogus 1;\n                     ^"),
        "{}",
        e[0]
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let e = errors("http { upstream u { server 127.0.0.1:1 weight=x; foo; } server { listen 1; location / { proxy_pass http://u; proxy_read_timeout 5q; } } }");
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn proxy_pass_may_name_an_upstream_defined_later() {
    let e = errors("http { server { listen 1; location / { proxy_pass http://later; } } upstream later { server 127.0.0.1:2; } }");
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn proxy_pass_to_an_address_makes_an_implicit_upstream() {
    let cfg = check_str(
        "t",
        "http { server { listen 1; location / { proxy_pass http://127.0.0.1:9000/x; } } }",
    );
    let http = cfg
        .ok()
        .and_then(|c| c.http)
        .unwrap_or_else(|| panic!("failed"));
    assert_eq!(http.upstreams[0].servers[0].addr.port(), 9000);
    assert_eq!(http.servers[0].locations[0].uri.as_deref(), Some("/x"));
}

#[test]
fn https_upstreams_are_rejected() {
    let e =
        errors("http { server { listen 1; location / { proxy_pass https://127.0.0.1:9000; } } }");
    assert!(e[0].contains("only http://"), "{e:?}");
}

#[test]
fn unknown_variable_in_header_is_an_error() {
    let e = errors("http { server { listen 1; location / { proxy_pass http://127.0.0.1:9; proxy_set_header X $nope; } } }");
    assert!(e[0].contains("unknown \"nope\" variable"), "{e:?}");
}

#[test]
fn ignored_directives_are_accepted_at_top_and_http_level() {
    let e = errors("user nobody; worker_processes 2; pid /x; error_log /y; events { worker_connections 10; }\nhttp { include mime.types; default_type a/b; sendfile on; keepalive_timeout 5; access_log off; log_format x y; server { listen 1; location / { proxy_pass http://127.0.0.1:9; } } }");
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn empty_config_has_nothing_to_proxy() {
    assert_eq!(
        errors("# nothing"),
        vec!["error: no \"http\" or \"stream\" block: nothing to proxy".to_string()]
    );
}

#[test]
fn balancing_methods_are_parsed() {
    let cfg = check_str("t", "http { upstream a { ip_hash; server 127.0.0.1:1; } upstream b { random two least_conn; server 127.0.0.1:1; } upstream c { hash $http_x_user; server 127.0.0.1:1; } server { listen 1; location / { proxy_pass http://a; } } }");
    let http = cfg
        .ok()
        .and_then(|c| c.http)
        .unwrap_or_else(|| panic!("failed"));
    assert_eq!(http.upstreams[0].balance, Balance::IpHash);
    assert_eq!(http.upstreams[1].balance, Balance::Random { two: true });
    assert!(matches!(
        http.upstreams[2].balance,
        Balance::Hash {
            consistent: false,
            ..
        }
    ));
}

#[test]
fn backup_with_hash_is_rejected_as_nginx_does() {
    let e = errors("http { upstream a { hash $uri; server 127.0.0.1:1; server 127.0.0.1:2 backup; } server { listen 1; location / { proxy_pass http://a; } } }");
    assert!(e[0].contains("backup"), "{e:?}");
}

#[test]
fn stream_hash_rejects_http_variables() {
    let e = errors("stream { upstream a { hash $host; server 127.0.0.1:1; } server { listen 1; proxy_pass a; } }");
    assert!(e[0].contains("connection variables"), "{e:?}");
}

#[test]
fn stream_server_requires_port_in_upstream_servers() {
    let e =
        errors("stream { upstream a { server 127.0.0.1; } server { listen 1; proxy_pass a; } }");
    assert!(e[0].contains("no port"), "{e:?}");
}

#[test]
fn health_check_parameters_are_validated() {
    let e = errors("http { upstream a { server 127.0.0.1:1; health_check interval=zz bogus=1 match_status=2x; } server { listen 1; location / { proxy_pass http://a; } } }");
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn regex_locations_are_reported_unsupported() {
    let e = errors(
        "http { server { listen 1; location ~ \\.php$ { proxy_pass http://127.0.0.1:9; } } }",
    );
    assert!(e[0].contains("regex"), "{e:?}");
}

#[test]
fn listen_forms_are_understood() {
    let cfg = check_str("t", "http { server { listen 8080; listen 127.0.0.2:81 default_server; listen [::1]:82; location / { proxy_pass http://127.0.0.1:9; } } }");
    let http = cfg
        .ok()
        .and_then(|c| c.http)
        .unwrap_or_else(|| panic!("failed"));
    let l: Vec<String> = http.servers[0]
        .listen
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(l, vec!["0.0.0.0:8080", "127.0.0.2:81", "[::1]:82"]);
}

#[test]
fn pipeline_is_read_checked_and_needs_keepalive() {
    let ok = check_str("t", "http { upstream u { server 127.0.0.1:9; keepalive 8; pipeline 16; } server { listen 1; location / { proxy_pass http://u; } } }");
    let http = ok
        .ok()
        .and_then(|c| c.http)
        .unwrap_or_else(|| panic!("failed"));
    assert_eq!(http.upstreams[0].pipeline, 16);
    let plain = check_str("t", "http { upstream u { server 127.0.0.1:9; keepalive 8; } server { listen 1; location / { proxy_pass http://u; } } }");
    let http = plain
        .ok()
        .and_then(|c| c.http)
        .unwrap_or_else(|| panic!("failed"));
    assert_eq!(http.upstreams[0].pipeline, 0, "off unless asked for");

    let e = errors("http { upstream u { server 127.0.0.1:9; pipeline 4; } server { listen 1; location / { proxy_pass http://u; } } }");
    assert!(
        e.len() == 1 && e[0].contains("needs \"keepalive\""),
        "{e:?}"
    );
    let e = errors("http { upstream u { server 127.0.0.1:9; keepalive 8; pipeline 65; } server { listen 1; location / { proxy_pass http://u; } } }");
    assert!(e.len() == 1 && e[0].contains("1 to 64"), "{e:?}");
    let e = errors("http { upstream u { server 127.0.0.1:9; keepalive 8; pipeline x; } server { listen 1; location / { proxy_pass http://u; } } }");
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn stream_upstreams_refuse_keepalive_and_pipeline_as_nginx_does() {
    for d in ["keepalive 8;", "pipeline 4;"] {
        let e = errors(&format!(
            "stream {{ upstream u {{ server 127.0.0.1:9; {d} }} server {{ listen 1; proxy_pass u; }} }}"
        ));
        assert!(
            e.len() == 1 && e[0].contains("unknown directive"),
            "{d}: {e:?}"
        );
    }
}
