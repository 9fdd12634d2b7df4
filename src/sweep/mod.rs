//! Sweeps: a base point plus axes, every combination run on the kernel model and classified,
//! with JSON lines, a summary table, a heat map, shards and merges; surveys (a sweep with
//! claims, checked into a report).
//!
//! - [`spec`]: the sweep file and the [`Plan`] it becomes (points by index, lazily);
//! - [`point`]: one point, run from the syscall entry, and its [`PointResult`] (a JSON line);
//! - [`run`]: parallel runs, shards, resume, JSON-lines files;
//! - [`summary`]: the table and the heat map;
//! - [`survey`]: claims and the report.
//!
//! A point does not re-run a guest program: it starts from the kernel state a guest's syscall
//! entry has (the buffer mapped and tagged, the thread's tag-check mode, the file on its
//! mount) and enters the kernel there. `tests/loops.rs` checks that guest programs reach the
//! same loops with the same per-version outcomes.
//!
//! ```
//! use tagmmu::sweep::{self, run::RunOptions};
//!
//! let plan = sweep::spec::parse(
//!     "name: doc\nbase: {loop: search_ioctl, kernel: '5.16'}\naxes: {bad_offset: {from: 16, to: 64, step: 16}}\n",
//! )
//! .unwrap();
//! let results = sweep::run::run_collect(&plan, &RunOptions::default()).unwrap();
//! assert_eq!(results.len(), 3);
//! assert!(results.iter().all(|r| r.verdict == sweep::point::Outcome::Livelock));
//! ```

pub mod command;
pub mod point;
pub mod run;
pub mod spec;
pub mod summary;
pub mod survey;

pub use point::{Outcome, Point, PointResult, SweepLoop};
pub use spec::Plan;
pub use summary::Summary;

/// What can go wrong with a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The sweep file is not YAML.
    #[error("sweep file: YAML: {0}")]
    Yaml(String),
    /// A field of the sweep file (or an option) is wrong.
    #[error("sweep file: {field}: {why}")]
    Field {
        /// The field, as a path (`axes.kernel`).
        field: String,
        /// What is wrong.
        why: String,
    },
    /// Results of two different sweeps met (resume or merge).
    #[error("point {index} belongs to sweep {found}, not {expected}: results of different sweeps cannot be mixed")]
    Mixed {
        /// The sweep expected.
        expected: String,
        /// The sweep found.
        found: String,
        /// The point.
        index: u64,
    },
    /// A JSON-lines record is wrong.
    #[error("record {index}: {why}")]
    Record {
        /// The record's index (or line number).
        index: u64,
        /// What is wrong.
        why: String,
    },
    /// The kernel model panicked on a point (a tagmmu bug).
    #[error("point {index}: the kernel model panicked ({what}); please report it")]
    Panic {
        /// The point.
        index: u64,
        /// The panic's message.
        what: String,
    },
    /// The worker threads could not start.
    #[error("threads: {0}")]
    Threads(String),
}
