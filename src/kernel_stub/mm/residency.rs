//! Per-page residency of a segment (resident, evicted, or neither), kept sparsely: a default
//! state for every page plus the pages that differ from it. A huge reservation the guest never
//! touches (a terabyte of `MAP_NORESERVE`) then costs the host nothing for its page states, and
//! walking the pages that hold contents costs what they number, not what the segment spans.

use std::collections::BTreeMap;

/// The state of one page of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    /// Never touched, or its contents dropped (MADV_DONTNEED): reads as zero.
    Absent,
    /// Resident.
    Present,
    /// Reclaimed (MADV_PAGEOUT, a scenario's eviction): not resident, contents kept.
    Evicted,
}

impl PageState {
    /// Whether the page holds contents (and so memory).
    pub fn holds(self) -> bool {
        self != PageState::Absent
    }
}

/// The states of a segment's pages, by page index.
#[derive(Debug)]
pub struct PageStates {
    pages: u64,
    default: PageState,
    /// Pages whose state is not `default`.
    others: BTreeMap<u64, PageState>,
    /// Pages that hold contents.
    held: u64,
}

impl PageStates {
    /// `pages` pages, each in state `default`.
    pub fn new(pages: u64, default: PageState) -> PageStates {
        PageStates { pages, default, others: BTreeMap::new(), held: if default.holds() { pages } else { 0 } }
    }

    /// The state of page `i` (pages past the end are absent).
    pub fn get(&self, i: u64) -> PageState {
        if i >= self.pages {
            return PageState::Absent;
        }
        self.others.get(&i).copied().unwrap_or(self.default)
    }

    /// Set the state of page `i` (ignored past the end); returns the state it had.
    pub fn set(&mut self, i: u64, state: PageState) -> PageState {
        if i >= self.pages {
            return PageState::Absent;
        }
        let was = if state == self.default { self.others.remove(&i) } else { self.others.insert(i, state) };
        let was = was.unwrap_or(self.default);
        match (was.holds(), state.holds()) {
            (false, true) => self.held += 1,
            (true, false) => self.held -= 1,
            _ => {}
        }
        was
    }

    /// How many pages hold contents (resident or evicted).
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The pages of `[from, to)` that hold contents, with their states, in order.
    pub fn holding_in(&self, from: u64, to: u64) -> Vec<(u64, PageState)> {
        let to = to.min(self.pages);
        if from >= to {
            return Vec::new();
        }
        if self.default.holds() {
            (from..to).map(|i| (i, self.get(i))).filter(|(_, s)| s.holds()).collect()
        } else {
            self.others.range(from..to).map(|(&i, &s)| (i, s)).filter(|(_, s)| s.holds()).collect()
        }
    }

    /// Make every page of `[from, to)` absent; returns how many held contents before.
    pub fn clear(&mut self, from: u64, to: u64) -> u64 {
        let before = self.held;
        for (i, _) in self.holding_in(from, to) {
            self.set(i, PageState::Absent);
        }
        before - self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_kept_sparsely_around_a_default() {
        let mut s = PageStates::new(1 << 40, PageState::Absent);
        assert_eq!((s.get(5), s.held()), (PageState::Absent, 0));
        assert_eq!(s.set(5, PageState::Present), PageState::Absent);
        assert_eq!(s.set(1 << 39, PageState::Evicted), PageState::Absent);
        assert_eq!((s.get(5), s.get(1 << 39), s.held()), (PageState::Present, PageState::Evicted, 2));
        assert_eq!(s.holding_in(0, 1 << 40), vec![(5, PageState::Present), (1 << 39, PageState::Evicted)]);
        assert_eq!(s.others.len(), 2, "only the pages that differ are stored");
        assert_eq!(s.clear(0, 1 << 40), 2);
        assert_eq!((s.held(), s.others.len()), (0, 0));
        assert_eq!(s.set(1 << 41, PageState::Present), PageState::Absent, "past the end: ignored");
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_resident_default_counts_every_page() {
        let mut s = PageStates::new(8, PageState::Present);
        assert_eq!(s.held(), 8);
        s.set(2, PageState::Absent);
        s.set(3, PageState::Evicted);
        assert_eq!(s.held(), 7);
        assert_eq!(s.holding_in(1, 4), vec![(1, PageState::Present), (3, PageState::Evicted)]);
        assert_eq!(s.clear(0, 4), 3);
        assert_eq!(s.held(), 4);
        s.set(0, PageState::Present);
        assert_eq!((s.held(), s.others.len()), (5, 3), "pages back at the default are not stored");
    }
}
