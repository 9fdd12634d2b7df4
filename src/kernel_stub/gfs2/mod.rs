//! gfs2's fault-in loops (fs/gfs2/file.c). gfs2 holds its inode glock while it copies to or
//! from user memory, and a page fault taken under the glock can deadlock, so since 5.16 ("gfs2:
//! Fix mmap + page fault deadlocks for buffered I/O" / "... for direct I/O", Andreas
//! Gruenbacher) it copies with page faults disabled, and when a copy comes back short it drops
//! the glock, faults a window of the buffer in and retries. The window comes from
//! [`should_fault_in_pages`]; its forms per version are in [`Form`].
//!
//! The loops: [`read::Gfs2Read`] (`gfs2_file_read_iter`, buffered) and
//! [`write::Gfs2BufferedWrite`] (`gfs2_file_buffered_write`), [`direct::Gfs2Direct`]
//! (`gfs2_file_direct_read` / `gfs2_file_direct_write`). Each is a
//! [`crate::kernel_stub::loops::KernelLoop`].

pub mod direct;
pub mod read;
pub mod write;

use crate::kernel_stub::iov_iter::IovIter;
use crate::kernel_stub::version::KernelVersion;

/// The code path of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// 5.15: no fault-in loop; user memory is accessed under the glock with page faults
    /// enabled (the deadlock the 5.16 series fixed).
    Pre,
    /// 5.16, 5.17: 00bfe02f4796 / b01b2d72da25; the window is always one page minus the
    /// user address's offset (a shadowed `pages` variable, fixed by bb7f5d96aaa8); the
    /// lockless read pass runs with page faults enabled.
    A,
    /// 5.18 (final) to 6.3: the window of up to 1 MiB (at least 8 pages by the dirty-pause
    /// budget) minus the file position's offset in its page, one page after no progress;
    /// the lockless read pass runs with page faults disabled (52f3f033a5db).
    C,
    /// 6.4 to 6.18: fa58cc888d67 "gfs2: Don't get stuck writing page onto itself under direct
    /// I/O": the window grows again only after progress, and a direct write falls back to
    /// buffered I/O after three rounds without progress.
    D,
}

impl Form {
    /// The form of `v`.
    pub fn for_version(v: KernelVersion) -> Form {
        if !v.at_least(5, 16) {
            Form::Pre
        } else if !v.at_least(5, 18) {
            Form::A
        } else if !v.at_least(6, 4) {
            Form::C
        } else {
            Form::D
        }
    }
}

/// `current->nr_dirtied_pause` of a new task (nothing dirtied yet).
const DIRTY_PAUSE_PAGES: u64 = 32;

/// The fault-in window state a gfs2 loop carries between passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// `prev_count`: the iterator's count at the last call.
    pub prev_count: u64,
    /// `window_size`.
    pub size: u64,
}

/// `should_fault_in_pages()`: whether to fault in and retry, and the window to fault in
/// (written to `w`). `pos` is the file position (`iocb->ki_pos`), `page` the page size. The
/// task's dirty-pause budget is that of a new task (`nr_dirtied_pause` 32, nothing dirtied).
pub fn should_fault_in_pages(form: Form, iter: &IovIter, pos: u64, page: u64, w: &mut Window) -> bool {
    let count = iter.count;
    if count == 0 {
        return false;
    }
    let size = match form {
        // The computed size is thrown away: one page minus the user address's offset.
        Form::Pre | Form::A => page - iter.current() % page,
        Form::C | Form::D => {
            let offs = pos % page;
            let grow = match form {
                Form::C => w.prev_count != count || w.size == 0,
                _ => w.prev_count != count,
            };
            // max(nr_dirtied_pause - nr_dirtied, 8) pages, at most 1 MiB.
            let size = if grow { (1u64 << 20).min(DIRTY_PAUSE_PAGES.max(8) * page) } else { page };
            size - offs
        }
    };
    w.prev_count = count;
    w.size = size;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_per_form() {
        let v = |s: &str| Form::for_version(s.parse().unwrap());
        assert_eq!(
            (v("5.15"), v("5.16"), v("5.17"), v("5.18"), v("6.1"), v("6.6"), v("6.18")),
            (Form::Pre, Form::A, Form::A, Form::C, Form::C, Form::D, Form::D)
        );
        let it = IovIter::new(vec![(0x10_0100, 1 << 20)]);
        let mut w = Window::default();
        // A: always one page minus the user offset.
        assert!(should_fault_in_pages(Form::A, &it, 0, 4096, &mut w));
        assert_eq!(w.size, 4096 - 0x100);
        // C: 32 pages minus the file offset, then one page without progress.
        let mut w = Window::default();
        assert!(should_fault_in_pages(Form::C, &it, 10, 4096, &mut w));
        assert_eq!(w.size, 32 * 4096 - 10);
        assert!(should_fault_in_pages(Form::C, &it, 10, 4096, &mut w));
        assert_eq!(w.size, 4096 - 10);
        // C re-grows a window that the fault-in shrank to 0; D does not.
        w.size = 0;
        should_fault_in_pages(Form::C, &it, 10, 4096, &mut w);
        assert_eq!(w.size, 32 * 4096 - 10);
        w.size = 0;
        should_fault_in_pages(Form::D, &it, 10, 4096, &mut w);
        assert_eq!(w.size, 4096 - 10);
        assert!(!should_fault_in_pages(Form::D, &IovIter::new(vec![]), 0, 4096, &mut w));
    }
}
