//! A tiny pcap reader/writer for the golden tests: 24-byte global header, 16-byte record
//! headers, Ethernet (linktype 1) or Linux cooked SLL (113) frames.

#![allow(dead_code)]

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_LINUX_SLL: u32 = 113;

pub struct Pcap {
    pub linktype: u32,
    pub frames: Vec<Vec<u8>>,
    /// Capture time of each frame in microseconds (microsecond-resolution pcaps only).
    pub times_us: Vec<u64>,
}

pub fn read(bytes: &[u8]) -> Pcap {
    assert!(bytes.len() >= 24, "pcap shorter than its global header");
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        m => panic!("not a pcap file (magic {m:08x})"),
    };
    let u32_at = |b: &[u8], at: usize| {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(bytes, 20);
    let mut frames = vec![];
    let mut times_us = vec![];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32_at(bytes, at + 8) as usize;
        let start = at + 16;
        assert!(start + incl <= bytes.len(), "truncated record at {at}");
        frames.push(bytes[start..start + incl].to_vec());
        times_us.push(u64::from(u32_at(bytes, at)) * 1_000_000 + u64::from(u32_at(bytes, at + 4)));
        at = start + incl;
    }
    Pcap {
        linktype,
        frames,
        times_us,
    }
}

/// The link-layer payload and its EtherType.
pub fn link_payload(linktype: u32, frame: &[u8]) -> Option<(u16, &[u8])> {
    let hdr = match linktype {
        LINKTYPE_ETHERNET => 14,
        LINKTYPE_LINUX_SLL => 16,
        other => panic!("unsupported linktype {other}"),
    };
    if frame.len() < hdr {
        return None;
    }
    let ethertype = u16::from_be_bytes([frame[hdr - 2], frame[hdr - 1]]);
    Some((ethertype, &frame[hdr..]))
}

/// Writes an Ethernet pcap (microsecond timestamps, one frame per 10 ms).
pub fn write(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![];
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&((i as u32) * 10_000).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}
