//! What a reload changes: pure comparison of the running instances with the new configuration.

use drift_model::VrrpInstance;

#[derive(Debug, PartialEq)]
pub struct Plan<'a> {
    /// Running instances left untouched (same name, identical configuration).
    pub keep: Vec<String>,
    /// Running instances whose only change is their base priority: applied in place, as a
    /// tracker's weight would be, so the instance keeps its state and VIPs (no flap).
    pub retune: Vec<&'a VrrpInstance>,
    /// Instances to start: new ones, and changed ones (stopped first by the caller).
    pub start: Vec<&'a VrrpInstance>,
}

pub fn plan<'a>(running: &[VrrpInstance], new: &'a [VrrpInstance]) -> Plan<'a> {
    let mut keep = Vec::new();
    let mut retune = Vec::new();
    let mut start = Vec::new();
    for n in new {
        if running.iter().any(|r| r == n) {
            keep.push(n.name.clone());
        } else if running.iter().any(|r| only_priority_differs(r, n)) {
            retune.push(n);
        } else {
            start.push(n);
        }
    }
    Plan {
        keep,
        retune,
        start,
    }
}

/// Same instance, only `priority` changed, and neither side is 255: the address owner
/// (RFC 5798 §6.4.1) skips the election and answers for the VIPs differently, so becoming or
/// ceasing to be the owner takes a restart.
fn only_priority_differs(running: &VrrpInstance, new: &VrrpInstance) -> bool {
    if running.priority == 255 || new.priority == 255 || running.priority == new.priority {
        return false;
    }
    let mut same = running.clone();
    same.priority = new.priority;
    &same == new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_instances_are_kept_and_changed_or_new_ones_started() {
        let a = VrrpInstance::new("A", 1);
        let b = VrrpInstance::new("B", 2);
        let mut b2 = b.clone();
        b2.priority = 150;
        let c = VrrpInstance::new("C", 3);
        let running = vec![a.clone(), b];
        let new = vec![a, b2.clone(), c.clone()];
        let p = plan(&running, &new);
        assert_eq!(p.keep, vec!["A".to_string()]);
        assert_eq!(p.retune, vec![&b2]);
        assert_eq!(p.start, vec![&c]);
    }

    #[test]
    fn a_change_besides_priority_or_to_the_owner_priority_restarts_the_instance() {
        let a = VrrpInstance::new("A", 1);
        let mut moved = a.clone();
        moved.priority = 120;
        moved.virtual_router_id = 9;
        let mut owner = a.clone();
        owner.priority = 255;
        let running = vec![a];
        assert_eq!(
            plan(&running, std::slice::from_ref(&moved)).start,
            vec![&moved]
        );
        let p = plan(&running, std::slice::from_ref(&owner));
        assert!(p.retune.is_empty() && p.start == vec![&owner]);
    }

    #[test]
    fn an_instance_missing_from_the_new_configuration_is_neither_kept_nor_started() {
        let running = vec![VrrpInstance::new("A", 1)];
        let p = plan(&running, &[]);
        assert!(p.keep.is_empty() && p.retune.is_empty() && p.start.is_empty());
    }
}
