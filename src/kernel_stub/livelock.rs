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

/// The most bytes of states a watch keeps. A loop over a large buffer that makes progress
/// stores a whole state per pass (its user range included): a 40 MiB write would keep
/// ~10,000 copies of 40 MiB. Past this the watch stops comparing (and says so): the loop runs
/// on, bounded by its pass budget, and a repeat can no longer be proven.
pub const MAX_WATCHED_BYTES: u64 = 64 << 20;

/// Watches the states of a loop, pass by pass.
#[derive(Debug)]
pub struct LoopWatch {
    seen: HashMap<u64, Vec<(u64, Vec<u8>)>>,
    budget: u64,
    passes: u64,
    stored: u64,
    max_stored: u64,
    /// The pass at which the states grew past `max_stored` and the watch stopped comparing.
    gave_up_at: Option<u64>,
}

impl LoopWatch {
    /// A watch that gives up after `budget` passes.
    pub fn new(budget: u64) -> LoopWatch {
        LoopWatch::with_memory(budget, MAX_WATCHED_BYTES)
    }

    /// A watch that gives up after `budget` passes and keeps at most `max_stored` bytes of
    /// states.
    pub fn with_memory(budget: u64, max_stored: u64) -> LoopWatch {
        LoopWatch { seen: HashMap::new(), budget, passes: 0, stored: 0, max_stored, gave_up_at: None }
    }

    /// Whether states are still compared (the caller need not capture them otherwise).
    pub fn watching(&self) -> bool {
        self.gave_up_at.is_none()
    }

    /// The pass at which the watch stopped comparing states, if it did.
    pub fn gave_up_at(&self) -> Option<u64> {
        self.gave_up_at
    }

    /// Count a pass without a state (the watch has stopped comparing): only the budget holds.
    pub fn count(&mut self) -> Watch {
        self.passes += 1;
        if self.passes > self.budget {
            return Watch::BudgetExhausted;
        }
        Watch::Running
    }

    /// Record the complete state at the start of the next pass.
    pub fn observe(&mut self, state: &[u8]) -> Watch {
        if !self.watching() {
            return self.count();
        }
        let pass = self.passes;
        self.passes += 1;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        state.hash(&mut h);
        let bucket = self.seen.entry(h.finish()).or_default();
        // Compare the full states, not just the hash: the proof must not rest on a hash.
        if let Some((first, _)) = bucket.iter().find(|(_, s)| s.as_slice() == state) {
            return Watch::Livelock(Cycle { first_pass: *first, repeat_pass: pass });
        }
        self.stored += state.len() as u64;
        if self.stored > self.max_stored {
            self.gave_up_at = Some(pass);
            self.seen = HashMap::new();
        } else {
            bucket.push((pass, state.to_vec()));
        }
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
    fn the_watch_keeps_bounded_memory_and_says_when_it_stopped() {
        let mut w = LoopWatch::with_memory(10, 25);
        assert_eq!(w.observe(b"0123456789"), Watch::Running);
        assert_eq!(w.observe(b"abcdefghij"), Watch::Running);
        assert!(w.watching());
        assert_eq!(w.observe(b"ABCDEFGHIJ"), Watch::Running);
        assert_eq!(w.gave_up_at(), Some(2), "past 25 bytes the watch stops comparing");
        assert_eq!(w.observe(b"0123456789"), Watch::Running, "a repeat can no longer be proven");
        for _ in 0..6 {
            assert_eq!(w.count(), Watch::Running);
        }
        assert_eq!(w.count(), Watch::BudgetExhausted, "the pass budget still holds");
    }

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
