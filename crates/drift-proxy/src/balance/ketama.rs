//! nginx's consistent-hash ring (`ngx_http_upstream_init_chash`), Cache::Memcached::Fast
//! compatible: per server, `base = crc32(host "\0" port)`; then `weight * 160` points, each
//! `crc32(base state + previous point as 4 little-endian bytes)`, starting from 0. Points are
//! sorted and duplicates dropped; a key maps to the first point >= crc32(key), wrapping.

#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u32, usize)>,
    servers: Vec<String>,
}

impl Ring {
    pub fn new<'a>(servers: impl Iterator<Item = (&'a str, u32)>) -> Ring {
        let mut points = Vec::new();
        let mut names = Vec::new();
        for (idx, (name, weight)) in servers.enumerate() {
            names.push(name.to_string());
            let (host, port) = match name.strip_prefix("unix:") {
                Some(path) => (path, ""),
                None => name.rsplit_once(':').unwrap_or((name, "")),
            };
            let mut base = crc32fast::Hasher::new();
            base.update(host.as_bytes());
            base.update(b"\0");
            base.update(port.as_bytes());
            let mut prev: u32 = 0;
            for _ in 0..weight.saturating_mul(160) {
                let mut h = base.clone();
                h.update(&prev.to_le_bytes());
                prev = h.finalize();
                points.push((prev, idx));
            }
        }
        points.sort_by_key(|p| p.0);
        points.dedup_by_key(|p| p.0);
        Ring {
            points,
            servers: names,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Index of the first point whose hash is >= `hash` (may equal len: callers wrap).
    pub fn find(&self, hash: u32) -> usize {
        self.points.partition_point(|p| p.0 < hash)
    }

    /// Server name at ring position `pos`, wrapping around.
    pub fn server_at(&self, pos: usize) -> &str {
        match self.points.get(pos % self.points.len().max(1)) {
            Some(&(_, idx)) => &self.servers[idx],
            None => "",
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_weight_unit_adds_160_points() {
        let r = Ring::new([("10.0.0.1:80", 1), ("10.0.0.2:80", 2)].into_iter());
        assert_eq!(r.len(), 480);
    }

    #[test]
    fn first_point_follows_the_memcached_fast_formula() {
        let r = Ring::new([("127.0.0.1:8080", 1)].into_iter());
        let mut h = crc32fast::Hasher::new();
        h.update(b"127.0.0.1\08080");
        h.update(&0u32.to_le_bytes());
        let first = h.finalize();
        assert!(r.points.iter().any(|p| p.0 == first));
    }

    #[test]
    fn lookup_wraps_past_the_last_point() {
        let r = Ring::new([("a:1", 1), ("b:2", 1)].into_iter());
        let pos = r.find(u32::MAX);
        assert!(pos <= r.len());
        assert!(!r.server_at(pos).is_empty());
    }

    #[test]
    fn empty_ring_maps_nowhere_without_panicking() {
        let r = Ring::new(std::iter::empty());
        assert_eq!(r.server_at(r.find(5)), "");
    }
}
