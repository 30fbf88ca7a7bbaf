//! Per-instance counters. Every received packet that does not reach the state machine is
//! counted by reason (keepalived's `vrrp_stats`, RFC 6527 MIB names where they exist); none of
//! these changes state.

use crate::wire::WireError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    /// Lower-priority adverts a preempting backup ignored (not an error: it lets the
    /// master-down timer run out so that we take over).
    pub lower_prio_ignored: u64,
    /// Lower-priority adverts that armed an immediate takeover (`preempt_immediate`).
    pub lower_prio_preempt: u64,
    /// Master_Down timers handled late (the daemon or the machine stalled) that were given one
    /// more advert interval instead of taking over at once (see `timers::stall_grace`).
    pub stall_graces: u64,
    pub drops: Drops,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// TTL/hop limit not 255 (multicast) or outside the unicast peer's range.
    pub ttl: u64,
    pub version: u64,
    pub checksum: u64,
    /// Not our VRID (the daemon usually demultiplexes first).
    pub vrid: u64,
    /// Unknown auth type, or not the one configured (keepalived `invalid_authtype` +
    /// `authtype_mismatch`).
    pub auth_type: u64,
    pub auth_fail: u64,
    /// VRRPv2 advert interval differs from ours (RFC 3768 §7.1 MUST).
    pub interval: u64,
    /// Address count or list differs from our `virtual_ipaddress`.
    pub addr_list: u64,
    pub length: u64,
    /// Not an advertisement.
    pub packet_type: u64,
    /// Our own advert looped back.
    pub own: u64,
    /// Unicast mode: source is not a configured peer.
    pub unicast_src: u64,
    /// Received while not running (Init or Fault).
    pub not_running: u64,
    /// Other format errors (IPv4 header, family mismatch).
    pub other: u64,
}

impl Stats {
    pub fn dropped_total(&self) -> u64 {
        let d = &self.drops;
        d.ttl
            + d.version
            + d.checksum
            + d.vrid
            + d.auth_type
            + d.auth_fail
            + d.interval
            + d.addr_list
            + d.length
            + d.packet_type
            + d.own
            + d.unicast_src
            + d.not_running
            + d.other
    }

    pub(crate) fn count_wire_error(&mut self, e: &WireError) {
        let d = &mut self.drops;
        match e {
            WireError::Truncated { .. } | WireError::Length { .. } => d.length += 1,
            WireError::Version(_) | WireError::V2OverIpv6 => d.version += 1,
            WireError::Type(_) => d.packet_type += 1,
            WireError::Checksum { .. } => d.checksum += 1,
            _ => d.other += 1,
        }
    }
}
