//! Master_Down expiries handled late: the caller (or the whole machine) stalled, see
//! [`crate::timers::stall_grace`] and issue 9. The daemon applies every advert that arrived
//! before the expiry (judged by kernel receive time) before it feeds `Input::Timer`; what is left
//! is a stall of the machine itself, which silences the link for us as much as for the master.

use std::time::{Duration, Instant};

use super::Instance;
use crate::timers::stall_grace;

impl Instance {
    /// A late Master_Down expiry while following a live master gets one grace period; not after
    /// a priority-0 advert (the master said it left) nor before any master was heard.
    pub(super) fn grace(&mut self, due_at: Option<Instant>, now: Instant) -> Option<Duration> {
        if self.stall_graced || self.master_addr.is_none() {
            return None;
        }
        let g = stall_grace(due_at?, now, self.master_adver_int, self.skew())?;
        self.stall_graced = true;
        self.stats.stall_graces += 1;
        Some(g)
    }
}
