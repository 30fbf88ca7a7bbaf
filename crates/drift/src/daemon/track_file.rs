//! `track_file`: a number in a file, read again whenever the file changes (inotify on its
//! directory, so a file replaced by rename or created later is followed too).
//!
//! keepalived.conf(5) "Track files": with weight 0 a non-zero value is a failure (`reverse`: a
//! zero value is); otherwise value x weight (negated by `reverse`) is added to the priority, and
//! a result below -253 puts the instance in FAULT.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use drift_model::TrackFile;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::instance_trackers::TrackerUpdate;

/// The value of a track file's text: an optional sign and digits after leading white space
/// (strtol-like); an empty, missing or unreadable file, or other text, reads as 0. Values are
/// saturated to the i32 range.
pub fn parse_value(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end]
        .parse::<i64>()
        .unwrap_or(if end == 0 { 0 } else { i64::MAX });
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

pub fn read_value(path: &Path) -> i64 {
    std::fs::read_to_string(path)
        .map(|s| parse_value(&s))
        .unwrap_or(0)
}

/// keepalived's status of one tracking reference: `None` for FAULT, else the priority delta.
pub fn effect(value: i64, weight: i32, reverse: bool) -> Option<i64> {
    if weight == 0 {
        let fails = (value != 0) != reverse;
        return if fails { None } else { Some(0) };
    }
    let mult = if reverse { -1 } else { 1 };
    let v = value
        .saturating_mul(i64::from(weight))
        .saturating_mul(mult)
        .clamp(-254, 253);
    if v == -254 {
        None
    } else {
        Some(v)
    }
}

/// `init_file [VALUE] [overwrite]`: write VALUE (default 0) when the file is missing, or always
/// with `overwrite`. Done once at startup.
pub fn init_file(t: &TrackFile) {
    let Some(words) = &t.init_file else { return };
    let overwrite = words.iter().any(|w| w == "overwrite");
    let value = words
        .iter()
        .find(|w| *w != "overwrite")
        .map(|w| parse_value(w))
        .unwrap_or(0);
    let path = Path::new(&t.file);
    if overwrite || !path.exists() {
        if let Err(e) = std::fs::write(path, format!("{value}\n")) {
            warn!("track_file {}: cannot initialise {}: {e}", t.name, t.file);
        }
    }
}

struct Fd(Inotify);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Follow every file: send its value now and again whenever it changes.
pub async fn watch(files: Vec<TrackFile>, tx: UnboundedSender<TrackerUpdate>) {
    if files.is_empty() {
        return;
    }
    let ino = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
        // SAFETY: `Fd` owns the inotify descriptor and always returns that same open
        // descriptor; the AsyncFd owns the `Fd`, so the descriptor outlives the registration.
        Ok(i) => match unsafe { AsyncFd::register_with_interest(Fd(i), Interest::READABLE) } {
            Ok(a) => a,
            Err(e) => {
                warn!("track_file: cannot register inotify ({e}); files are not followed");
                return;
            }
        },
        Err(e) => {
            warn!("track_file: inotify unavailable ({e}); files are not followed");
            return;
        }
    };
    // directory watch -> (file name -> tracker names)
    let mut by_wd: HashMap<_, Vec<(OsString, String, PathBuf)>> = HashMap::new();
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MODIFY;
    let mut last: HashMap<String, i64> = HashMap::new();
    for t in &files {
        let path = PathBuf::from(&t.file);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(fname) = path.file_name().map(|n| n.to_os_string()) else {
            warn!("track_file {}: `{}` names no file", t.name, t.file);
            continue;
        };
        match ino.get_ref().0.add_watch(&dir, mask) {
            Ok(wd) => by_wd
                .entry(wd)
                .or_default()
                .push((fname, t.name.clone(), path.clone())),
            Err(e) => warn!(
                "track_file {}: cannot watch {}: {e}; value read once",
                t.name,
                dir.display()
            ),
        }
        let v = read_value(&path);
        last.insert(t.name.clone(), v);
        if tx
            .send(TrackerUpdate::File {
                name: t.name.clone(),
                value: v,
            })
            .is_err()
        {
            return;
        }
    }
    loop {
        let Ok(mut guard) = ino.readable().await else {
            return;
        };
        let events = match guard.try_io(|fd| {
            fd.get_ref()
                .0
                .read_events()
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
        }) {
            Ok(Ok(ev)) => ev,
            Ok(Err(e)) => {
                warn!("track_file: inotify read failed: {e}");
                return;
            }
            Err(_would_block) => continue,
        };
        for ev in events {
            let Some(watched) = by_wd.get(&ev.wd) else {
                continue;
            };
            for (fname, name, path) in watched {
                if ev.name.as_ref().is_some_and(|n| n == fname) {
                    let v = read_value(path);
                    if last.insert(name.clone(), v) != Some(v) {
                        info!("track_file {name}: value {v}");
                        if tx
                            .send(TrackerUpdate::File {
                                name: name.clone(),
                                value: v,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_reads_like_strtol_and_anything_else_is_zero() {
        assert_eq!(parse_value("42\n"), 42);
        assert_eq!(parse_value("  -7 trailing"), -7);
        assert_eq!(parse_value("+3"), 3);
        assert_eq!(parse_value(""), 0);
        assert_eq!(parse_value("abc"), 0);
        assert_eq!(parse_value("99999999999999999999"), i64::from(i32::MAX));
    }

    #[test]
    fn with_weight_zero_a_non_zero_value_is_a_fault_and_reverse_flips_it() {
        assert_eq!(effect(0, 0, false), Some(0));
        assert_eq!(effect(5, 0, false), None);
        assert_eq!(effect(0, 0, true), None);
        assert_eq!(effect(-1, 0, true), Some(0));
    }

    #[test]
    fn value_times_weight_is_the_delta_and_below_minus_253_is_a_fault() {
        assert_eq!(effect(3, 10, false), Some(30));
        assert_eq!(effect(3, 10, true), Some(-30));
        assert_eq!(effect(-25, 10, false), Some(-250));
        assert_eq!(effect(-26, 10, false), None);
        assert_eq!(effect(1000, 1, false), Some(253));
    }

    #[test]
    fn init_file_writes_a_missing_file_and_only_overwrites_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prio");
        let mut t = TrackFile {
            name: "f".into(),
            file: path.display().to_string(),
            weight: 1,
            reverse: false,
            init_file: Some(vec!["5".into()]),
        };
        init_file(&t);
        assert_eq!(read_value(&path), 5);
        t.init_file = Some(vec!["7".into()]);
        init_file(&t);
        assert_eq!(read_value(&path), 5, "an existing file is kept");
        t.init_file = Some(vec!["7".into(), "overwrite".into()]);
        init_file(&t);
        assert_eq!(read_value(&path), 7);
        t.init_file = Some(vec!["overwrite".into()]);
        init_file(&t);
        assert_eq!(read_value(&path), 0, "the value defaults to 0");
    }
}
