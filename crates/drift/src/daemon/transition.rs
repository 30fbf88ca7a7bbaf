//! Why an instance changed state, in an operator's words, from the input that made it step.

use std::net::IpAddr;

use drift_vrrp::{Input, State};

/// What made the state machine step, kept (cheaply) to explain a transition.
#[derive(Debug, Clone, Copy)]
pub enum Cause {
    Startup,
    Advert {
        src: IpAddr,
        priority: u8,
    },
    Malformed,
    Timer,
    Priority(u8),
    Fault(bool),
    /// The sync group moved together (keepalived's sync group transitions).
    Sync,
    Shutdown,
}

impl Cause {
    pub fn of(input: &Input) -> Cause {
        match input {
            Input::Startup => Cause::Startup,
            Input::Advert { src, advert, .. } => Cause::Advert {
                src: *src,
                priority: advert.priority,
            },
            Input::Malformed(_) => Cause::Malformed,
            Input::Timer => Cause::Timer,
            Input::PriorityChange { effective } => Cause::Priority(*effective),
            Input::Fault(f) => Cause::Fault(*f),
            Input::Shutdown => Cause::Shutdown,
            Input::SyncMaster | Input::SyncBackup => Cause::Sync,
        }
    }
}

/// Why `from` became `to` after `cause`, in an operator's words (`last_advert`: the last
/// advert this instance received, if any).
pub fn reason(cause: Cause, from: State, to: State, last_advert: Option<(IpAddr, u8)>) -> String {
    match (cause, to) {
        (Cause::Startup, State::Master) => "startup (configured MASTER or address owner)".into(),
        (Cause::Startup, _) => "startup".into(),
        (Cause::Timer, State::Master) => match last_advert {
            // RFC 5798 §6.4.2: a priority-0 advert sets the master down timer to the skew time.
            Some((src, 0)) => {
                format!("master {src} resigned (priority 0): took over after the skew time")
            }
            _ => "no advert within the master down interval".into(),
        },
        (Cause::Timer, _) => "timer".into(),
        (Cause::Advert { src, priority: 0 }, _) => format!("master {src} resigned (priority 0)"),
        (Cause::Advert { src, priority }, State::Backup) if from == State::Master => {
            format!(
                "advert from {src} with priority {priority} (higher, or equal and higher address)"
            )
        }
        (Cause::Advert { src, priority }, _) => format!("advert from {src} (priority {priority})"),
        (Cause::Fault(true), _) => "a tracker or the sync group reported a fault".into(),
        (Cause::Fault(false), _) => "fault cleared".into(),
        (Cause::Priority(p), _) => format!("effective priority changed to {p}"),
        (Cause::Sync, _) => "its sync group changed state".into(),
        (Cause::Shutdown, _) => "shutdown".into(),
        (Cause::Malformed, _) => "malformed packet".into(),
    }
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Init => "INIT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_over_after_silence_is_explained_by_the_master_down_timer() {
        let r = reason(Cause::Timer, State::Backup, State::Master, None);
        assert!(r.contains("master down interval"), "{r}");
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let r = reason(Cause::Timer, State::Backup, State::Master, Some((src, 200)));
        assert!(r.contains("master down interval"), "{r}");
    }

    #[test]
    fn a_takeover_after_a_priority_zero_advert_says_the_master_resigned() {
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let r = reason(Cause::Timer, State::Backup, State::Master, Some((src, 0)));
        assert!(r.starts_with("master 10.0.0.2 resigned"), "{r}");
    }

    #[test]
    fn yielding_to_a_better_master_names_its_address_and_priority() {
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let r = reason(
            Cause::Advert { src, priority: 200 },
            State::Master,
            State::Backup,
            None,
        );
        assert!(r.contains("10.0.0.2") && r.contains("200"), "{r}");
    }

    #[test]
    fn a_priority_zero_advert_is_reported_as_the_master_resigning() {
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let r = reason(
            Cause::Advert { src, priority: 0 },
            State::Backup,
            State::Master,
            None,
        );
        assert_eq!(r, "master 10.0.0.2 resigned (priority 0)");
    }
}
