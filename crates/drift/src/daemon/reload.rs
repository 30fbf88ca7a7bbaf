//! What a reload changes: pure comparison of the running instances with the new configuration.

use drift_model::VrrpInstance;

#[derive(Debug, PartialEq)]
pub struct Plan<'a> {
    /// Running instances left untouched (same name, identical configuration).
    pub keep: Vec<String>,
    /// Instances to start: new ones, and changed ones (stopped first by the caller).
    pub start: Vec<&'a VrrpInstance>,
}

pub fn plan<'a>(running: &[VrrpInstance], new: &'a [VrrpInstance]) -> Plan<'a> {
    let mut keep = Vec::new();
    let mut start = Vec::new();
    for n in new {
        if running.iter().any(|r| r == n) {
            keep.push(n.name.clone());
        } else {
            start.push(n);
        }
    }
    Plan { keep, start }
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
        assert_eq!(p.start, vec![&b2, &c]);
    }

    #[test]
    fn an_instance_missing_from_the_new_configuration_is_neither_kept_nor_started() {
        let running = vec![VrrpInstance::new("A", 1)];
        let p = plan(&running, &[]);
        assert!(p.keep.is_empty() && p.start.is_empty());
    }
}
