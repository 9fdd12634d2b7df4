//! Proving that a kernel loop cannot make progress.
//!
//! A kernel loop such as `search_ioctl()` is deterministic in its state: the loop's own
//! variables and the user memory it touches (bytes, tags, page presence). If the complete
//! state at the start of a pass equals the state at the start of an earlier pass, every pass
//! after it repeats the same cycle forever: that is a proof of a live-lock, not a timeout.
//! An iteration budget remains as a backstop for loops whose state keeps changing without
//! progress.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A cycle found by [`LoopWatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cycle {
    /// The pass whose state came back.
    pub first_pass: u64,
    /// The pass at which it came back.
    pub repeat_pass: u64,
}

impl Cycle {
    /// Passes per cycle.
    pub fn length(&self) -> u64 {
        self.repeat_pass - self.first_pass
    }
}

/// What a watched loop has come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Nothing proven yet.
    Running,
    /// The state repeated: the loop can never end.
    Livelock(Cycle),
    /// The iteration budget ran out without a repeat.
    BudgetExhausted,
}

/// Watches the states of a loop, pass by pass.
#[derive(Debug)]
pub struct LoopWatch {
    seen: HashMap<u64, Vec<(u64, Vec<u8>)>>,
    budget: u64,
    passes: u64,
}

impl LoopWatch {
    /// A watch that gives up after `budget` passes.
    pub fn new(budget: u64) -> LoopWatch {
        LoopWatch { seen: HashMap::new(), budget, passes: 0 }
    }

    /// Record the complete state at the start of the next pass.
    pub fn observe(&mut self, state: &[u8]) -> Watch {
        let pass = self.passes;
        self.passes += 1;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        state.hash(&mut h);
        let bucket = self.seen.entry(h.finish()).or_default();
        // Compare the full states, not just the hash: the proof must not rest on a hash.
        if let Some((first, _)) = bucket.iter().find(|(_, s)| s.as_slice() == state) {
            return Watch::Livelock(Cycle { first_pass: *first, repeat_pass: pass });
        }
        bucket.push((pass, state.to_vec()));
        if self.passes > self.budget {
            return Watch::BudgetExhausted;
        }
        Watch::Running
    }

    /// Passes observed.
    pub fn passes(&self) -> u64 {
        self.passes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_state_is_a_cycle() {
        let mut w = LoopWatch::new(100);
        assert_eq!(w.observe(b"a"), Watch::Running);
        assert_eq!(w.observe(b"b"), Watch::Running);
        assert_eq!(w.observe(b"c"), Watch::Running);
        let Watch::Livelock(c) = w.observe(b"b") else { panic!() };
        assert_eq!((c.first_pass, c.repeat_pass, c.length()), (1, 3, 2));
    }

    #[test]
    fn changing_states_hit_the_budget() {
        let mut w = LoopWatch::new(3);
        for i in 0..3u8 {
            assert_eq!(w.observe(&[i]), Watch::Running);
        }
        assert_eq!(w.observe(&[9]), Watch::BudgetExhausted);
    }
}
