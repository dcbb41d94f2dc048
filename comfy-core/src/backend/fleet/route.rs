//! The routing decision, apart from any I/O: given what is known about each backend now, the
//! order in which to try them for one submission.
//!
//! Rules, in order: only healthy backends that have what the workflow needs are candidates;
//! backends with room (load at or under the overflow threshold) come before full ones; among
//! those, the lowest priority number first, and within a priority the least busy (load divided
//! by weight). So the next priority takes work only when every backend of the better one is
//! full, and a submission that fails on its first choice falls through to every other
//! candidate.

/// What the router knows about one backend at submission time.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Position in the configuration (ties go to the earlier one).
    pub index: usize,
    /// Lower is tried first.
    pub priority: u32,
    /// Relative capacity (> 0).
    pub weight: f64,
    /// Jobs queued or running on it: its own queue plus ours in flight (each once).
    pub load: usize,
    /// Whether it answers (health checks, last submit).
    pub healthy: bool,
    /// Whether its catalogue has every node class and model the workflow names (`true` when
    /// its catalogue is not known).
    pub capable: bool,
}

impl Candidate {
    fn busy(&self) -> f64 {
        self.load as f64 / self.weight
    }
}

/// The candidates to try, best first (healthy and capable ones only). `overflow_queue` is the
/// load a backend may have and still count as having room.
pub fn rank(candidates: &[Candidate], overflow_queue: usize) -> Vec<usize> {
    let mut usable: Vec<&Candidate> = candidates.iter().filter(|c| c.healthy && c.capable).collect();
    // Backends with room come first, by priority; a full one only after every backend with
    // room, of whatever priority (that is the overflow), then by priority too.
    usable.sort_by(|a, b| {
        let tier = |c: &Candidate| (c.load > overflow_queue, c.priority);
        tier(a).cmp(&tier(b)).then(a.busy().total_cmp(&b.busy())).then(a.index.cmp(&b.index))
    });
    usable.into_iter().map(|c| c.index).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: usize, priority: u32, load: usize) -> Candidate {
        Candidate { index, priority, weight: 1.0, load, healthy: true, capable: true }
    }

    #[test]
    fn least_busy_first_within_a_priority() {
        assert_eq!(rank(&[c(0, 0, 3), c(1, 0, 1), c(2, 0, 2)], 10), vec![1, 2, 0]);
        // Ties go to the earlier entry.
        assert_eq!(rank(&[c(0, 0, 1), c(1, 0, 1)], 10), vec![0, 1]);
    }

    #[test]
    fn weight_divides_the_load() {
        let big = Candidate { weight: 4.0, ..c(0, 0, 4) };
        assert_eq!(rank(&[big.clone(), c(1, 0, 2)], 10), vec![0, 1], "4/4 = 1 beats 2/1");
        assert_eq!(rank(&[big, c(1, 0, 0)], 10), vec![1, 0]);
    }

    #[test]
    fn the_next_priority_takes_only_the_overflow() {
        // A local box with 2 jobs and a cloud with none: local still has room at N = 2.
        assert_eq!(rank(&[c(0, 0, 2), c(1, 1, 0)], 2), vec![0, 1]);
        // One more and every local backend is over N: the cloud goes first.
        assert_eq!(rank(&[c(0, 0, 3), c(1, 1, 0)], 2), vec![1, 0]);
        // Two locals: overflow only when both are over N.
        assert_eq!(rank(&[c(0, 0, 3), c(1, 0, 2), c(2, 1, 0)], 2), vec![1, 2, 0]);
        assert_eq!(rank(&[c(0, 0, 3), c(1, 0, 4), c(2, 1, 0)], 2), vec![2, 0, 1]);
    }

    #[test]
    fn everyone_over_the_threshold_keeps_priority_order() {
        assert_eq!(rank(&[c(0, 1, 5), c(1, 0, 9), c(2, 0, 7)], 2), vec![2, 1, 0]);
    }

    #[test]
    fn unhealthy_and_incapable_backends_are_skipped() {
        let down = Candidate { healthy: false, ..c(0, 0, 0) };
        let lacks = Candidate { capable: false, ..c(1, 0, 0) };
        assert_eq!(rank(&[down, lacks, c(2, 1, 8)], 2), vec![2]);
        let none: Vec<usize> = Vec::new();
        assert_eq!(rank(&[Candidate { healthy: false, ..c(0, 0, 0) }], 2), none);
    }
}
