//! Log output that never blocks the thread that logs.
//!
//! The VRRP thread logs state changes and warnings; writing them to stderr synchronously would
//! block it whenever stderr is a full pipe (a stalled journald, a reader that stopped reading)
//! or a slow terminal, and a blocked VRRP thread misses adverts. Each formatted line is handed
//! to a writer thread over a bounded channel instead; when the channel is full the line is
//! dropped and counted, and the count is written with the next line that gets through (the
//! same trade-off as tracing-appender's `non_blocking`, without the dependency). When stderr is
//! a regular file (writes to it do not wait for a reader) lines are written directly, so that
//! the log stays in step with what the daemon does.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines buffered before new ones are dropped.
const CAPACITY: usize = 4096;

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

static FLUSHER: OnceLock<SyncSender<Msg>> = OnceLock::new();

/// A `MakeWriter` for tracing-subscriber that queues each event for the stderr thread.
pub struct NonBlocking {
    /// Write each line directly (stderr is a regular file, which never blocks for long, and
    /// whoever reads it sees the lines in order with what the daemon did).
    direct: bool,
    tx: SyncSender<Msg>,
    /// Lines dropped since the last one written.
    dropped: Arc<AtomicU64>,
}

/// Start the stderr writer thread. Errors if the thread cannot be spawned.
pub fn stderr() -> std::io::Result<NonBlocking> {
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::Builder::new()
        .name("log".into())
        .spawn(move || write_loop(rx, std::io::stderr(), &counter))?;
    let _ = FLUSHER.set(tx.clone());
    Ok(NonBlocking {
        direct: stderr_is_regular_file(),
        tx,
        dropped,
    })
}

fn stderr_is_regular_file() -> bool {
    // SAFETY: fstat writes into a zeroed, properly sized stat buffer; fd 2 is only inspected.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(2, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}

/// Wait (up to a second) until every queued line is written: call before the process exits.
pub fn flush() {
    let Some(tx) = FLUSHER.get() else {
        return;
    };
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    if tx.send(Msg::Flush(ack_tx)).is_ok() {
        let _ = ack_rx.recv_timeout(Duration::from_secs(1));
    }
}

fn write_loop(rx: Receiver<Msg>, mut out: impl Write, dropped: &AtomicU64) {
    for msg in rx {
        match msg {
            Msg::Line(line) => {
                let lost = dropped.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    let _ = writeln!(out, "({lost} log lines dropped: output too slow)");
                }
                let _ = out.write_all(&line);
            }
            Msg::Flush(ack) => {
                let _ = out.flush();
                let _ = ack.send(());
            }
        }
    }
}

/// One event: tracing-subscriber writes the formatted line into it, and it is queued on drop.
pub struct Line<'a> {
    to: &'a NonBlocking,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.to.direct {
            let _ = std::io::stderr().write_all(&self.buf);
            return;
        }
        let line = std::mem::take(&mut self.buf);
        match self.to.tx.try_send(Msg::Line(line)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.to.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line {
            to: self,
            buf: Vec::with_capacity(160),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_a_flush_waits_for_them() {
        let (tx, rx) = mpsc::sync_channel(8);
        let sink = Sink::default();
        let out = sink.clone();
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let t = std::thread::spawn(move || write_loop(rx, out, &counter));
        let nb = NonBlocking {
            direct: false,
            tx,
            dropped,
        };
        for s in ["a\n", "b\n"] {
            let mut w = nb.make_writer();
            w.write_all(s.as_bytes()).unwrap();
        }
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        nb.tx.send(Msg::Flush(ack_tx)).unwrap();
        ack_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"a\nb\n");
        drop(nb);
        t.join().unwrap();
    }

    #[test]
    fn a_full_queue_drops_the_line_instead_of_blocking_the_logger() {
        let (tx, rx) = mpsc::sync_channel(1);
        let nb = NonBlocking {
            direct: false,
            tx,
            dropped: Arc::default(),
        };
        for _ in 0..3 {
            let mut w = nb.make_writer();
            w.write_all(b"x\n").unwrap();
        }
        // Nobody reads: one line queued, two dropped, and this thread never blocked.
        assert_eq!(nb.dropped.load(Ordering::Relaxed), 2);
        assert!(matches!(rx.try_recv(), Ok(Msg::Line(l)) if l == b"x\n"));
    }
}
