//! `smtp_alert`: a mail to `notification_email` on each state change of an instance, sent on a
//! short-lived thread of its own so that a slow or dead SMTP server delays nothing else.
//!
//! keepalived 2.2.7's format (vrrp_notify.c / smtp.c): subject
//! `[<router_id>] VRRP Instance <name> - Entering <STATE> state` (`Stopping` on stop), body
//! `=> VRRP Instance is now owning VRRP VIPs <=` (MASTER), `... is no longer owning ...`
//! (BACKUP, FAULT), `=> VRRP Instance stopping <=`; From `notification_email_from`, default
//! `keepalived@<host name>`; router_id and HELO name default to the host name. One mail per
//! state (not repeated for the same state); `no_email_faults` skips FAULT mails.

use std::time::Duration;

use drift_model::GlobalDefs;
use lettre::message::Mailbox;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};
use tracing::{info, warn};

/// Everything needed to send, resolved from global_defs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConf {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub router_id: String,
    pub no_email_faults: bool,
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

impl SmtpConf {
    /// None when mail cannot be sent (no server or no recipient), as keepalived.
    pub fn from_globals(g: &GlobalDefs) -> Option<SmtpConf> {
        let server = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let host = hostname();
        Some(SmtpConf {
            host: server.host.clone(),
            port: server.port,
            timeout: g.smtp_connect_timeout,
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("keepalived@{host}")),
            to: g.notification_email.clone(),
            router_id: g.router_id.clone().unwrap_or(host),
            no_email_faults: g.extra.iter().any(|e| e.key == "no_email_faults"),
        })
    }
}

/// (subject, body) of an instance's alert, None for states keepalived sends nothing for.
pub fn instance_mail(router_id: &str, instance: &str, state: &str) -> Option<(String, String)> {
    let (what, body) = match state {
        "MASTER" => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        "BACKUP" => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "FAULT" => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "STOP" => ("Stopping", "=> VRRP Instance stopping <="),
        _ => return None,
    };
    Some((
        format!("[{router_id}] VRRP Instance {instance} - {what}"),
        body.to_string(),
    ))
}

/// (subject, body) of a sync group's alert (keepalived 2.2 `vrrp_sync_smtp_notifier`: MASTER,
/// BACKUP, FAULT and stopping).
pub fn group_mail(router_id: &str, group: &str, state: &str) -> Option<(String, String)> {
    let (what, body) = match state {
        "MASTER" | "BACKUP" | "FAULT" => (
            format!("Entering {state} state"),
            format!("=> All VRRP group instances are now in {state} state <="),
        ),
        "STOP" => (
            "Stopping".to_string(),
            "=> All VRRP group instances are now stopping <=".to_string(),
        ),
        _ => return None,
    };
    Some((format!("[{router_id}] VRRP Group {group} - {what}"), body))
}

fn build(conf: &SmtpConf, subject: &str, body: &str) -> Result<Message, String> {
    let from: Mailbox = conf
        .from
        .parse()
        .map_err(|e| format!("notification_email_from `{}`: {e}", conf.from))?;
    let mut b = Message::builder()
        .from(from)
        .subject(subject)
        .user_agent("Keepalived".into());
    for to in &conf.to {
        let mb: Mailbox = to
            .parse()
            .map_err(|e| format!("notification_email `{to}`: {e}"))?;
        b = b.to(mb);
    }
    b.body(body.to_string())
        .map_err(|e| format!("build mail: {e}"))
}

fn send_blocking(conf: &SmtpConf, subject: &str, body: &str) -> Result<(), String> {
    let msg = build(conf, subject, body)?;
    let mailer = SmtpTransport::builder_dangerous(conf.host.as_str())
        .port(conf.port)
        .timeout(Some(conf.timeout))
        .hello_name(ClientId::Domain(conf.helo.clone()))
        .build();
    mailer
        .send(&msg)
        .map(|_| ())
        .map_err(|e| format!("SMTP server {}:{}: {e}", conf.host, conf.port))
}

/// Send in the background; the outcome is logged.
pub fn send(conf: &SmtpConf, subject: String, body: String) {
    let conf = conf.clone();
    let spawned =
        std::thread::Builder::new()
            .name("smtp".into())
            .spawn(move || match send_blocking(&conf, &subject, &body) {
                Ok(()) => info!("SMTP alert sent: {subject}"),
                Err(e) => warn!("SMTP alert not sent ({subject}): {e}"),
            });
    if let Err(e) = spawned {
        warn!("SMTP alert not sent: no thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_bodies_follow_keepalived() {
        assert_eq!(
            instance_mail("lb1", "VI_1", "MASTER").unwrap(),
            (
                "[lb1] VRRP Instance VI_1 - Entering MASTER state".to_string(),
                "=> VRRP Instance is now owning VRRP VIPs <=".to_string()
            )
        );
        assert_eq!(
            instance_mail("lb1", "VI_1", "STOP").unwrap().0,
            "[lb1] VRRP Instance VI_1 - Stopping"
        );
        assert!(instance_mail("lb1", "VI_1", "DELETED").is_none());
        assert_eq!(
            group_mail("lb1", "VG_1", "FAULT").unwrap(),
            (
                "[lb1] VRRP Group VG_1 - Entering FAULT state".to_string(),
                "=> All VRRP group instances are now in FAULT state <=".to_string()
            )
        );
        assert_eq!(
            group_mail("lb1", "VG_1", "STOP").unwrap(),
            (
                "[lb1] VRRP Group VG_1 - Stopping".to_string(),
                "=> All VRRP group instances are now stopping <=".to_string()
            )
        );
        assert!(group_mail("lb1", "VG_1", "DELETED").is_none());
    }

    #[test]
    fn mail_needs_a_server_and_a_recipient_and_defaults_come_from_the_host_name() {
        let mut g = GlobalDefs {
            notification_email: vec!["ops@example.com".into()],
            ..GlobalDefs::default()
        };
        assert!(SmtpConf::from_globals(&g).is_none());
        g.smtp_server = Some(drift_model::SmtpServer {
            host: "127.0.0.1".into(),
            port: 2525,
        });
        let c = SmtpConf::from_globals(&g).unwrap();
        assert_eq!(c.from, format!("keepalived@{}", hostname()));
        assert_eq!(c.router_id, hostname());
        assert_eq!(c.port, 2525);
        g.notification_email.clear();
        assert!(SmtpConf::from_globals(&g).is_none());
    }

    #[test]
    fn bad_addresses_are_errors_not_panics() {
        let g = GlobalDefs {
            notification_email: vec!["not an address".into()],
            smtp_server: Some(drift_model::SmtpServer {
                host: "127.0.0.1".into(),
                port: 25,
            }),
            ..GlobalDefs::default()
        };
        let c = SmtpConf::from_globals(&g).unwrap();
        assert!(build(&c, "s", "b").is_err());
    }
}
