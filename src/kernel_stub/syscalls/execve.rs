//! `execve`: replace the task's program with an executable from the guest's filesystem.
//!
//! The syscall validates everything that can fail while the old program can still see the
//! error (the path, the file, its ELF image and architecture, the argument and environment
//! strings), then commits: the kernel keeps what survives an exec (pid, descriptors without
//! close-on-exec, ignored signals, the signal mask and pending set, rlimits, cwd, files) and
//! resets the rest (see [`Kernel::begin_new_exec`]); the machine then loads the image into a
//! fresh address space and CPU and runs on.

use crate::addr::UserAddr;
use crate::arch::read_u64;
use crate::kernel_stub::binfmt_elf::{self, ElfImage};
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::AddressSpace;
use crate::kernel_stub::signal::{SigAction, SIG_DFL, SIG_IGN};
use crate::kernel_stub::uaccess;
use crate::kernel_stub::Kernel;

/// Most strings an argv or envp may hold here (Linux's MAX_ARG_STRINGS is 0x7fffffff; the
/// real bound is the total size below).
const MAX_ARG_STRINGS: usize = 1 << 16;
/// The most bytes argv and envp may take together: a quarter of the 8 MiB stack limit
/// (fs/exec.c's bound with the default RLIMIT_STACK); past it execve is E2BIG.
const MAX_ARG_BYTES: usize = 2 << 20;

/// An exec the syscall validated and committed: what the machine loads next.
#[derive(Clone, Debug)]
pub struct ExecRequest {
    /// The guest path, as resolved.
    pub path: String,
    /// The path as the program passed it (AT_EXECFN).
    pub execfn: String,
    /// The parsed image.
    pub image: ElfImage,
    /// argv.
    pub argv: Vec<String>,
    /// envp.
    pub envp: Vec<String>,
}

impl Kernel {
    /// `execve(path, argv, envp)`. On success the syscall does not return: the outcome is
    /// [`super::SyscallOutcome::Exec`].
    pub(super) fn sys_execve(&mut self, path: u64, argv: u64, envp: u64) -> KResult<ExecRequest> {
        let p = self.user_path(path)?;
        if p.is_empty() {
            return Err(Errno::ENOENT);
        }
        let resolved = self.vfs.resolve(&p)?;
        let st = self.vfs.stat(&resolved)?;
        let (bytes, perm) = match self.vfs.file_contents(&resolved) {
            Some(b) => (b.to_vec(), st.mode & 0o777),
            None => return Err(Errno::EACCES),
        };
        if perm & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        let mut total = 0usize;
        let argv = self.user_strings(argv, &mut total)?;
        let envp = self.user_strings(envp, &mut total)?;
        if bytes.starts_with(b"#!") {
            self.notice(format!(
                "execve of the script {resolved}: #! interpreters are not modelled: returning -ENOEXEC"
            ));
            return Err(Errno::ENOEXEC);
        }
        let image = binfmt_elf::parse(&bytes, Some(self.arch)).map_err(|_| Errno::ENOEXEC)?;
        Ok(ExecRequest { path: resolved, execfn: p, image, argv, envp })
    }

    /// A NULL-terminated array of user string pointers (NULL array: none), counting their
    /// bytes (with the NULs and the pointers) into `total`.
    fn user_strings(&mut self, array: u64, total: &mut usize) -> KResult<Vec<String>> {
        let mut out = Vec::new();
        if array == 0 {
            return Ok(out);
        }
        loop {
            if out.len() >= MAX_ARG_STRINGS {
                return Err(Errno::E2BIG);
            }
            let at = array.checked_add(8 * out.len() as u64).ok_or(Errno::EFAULT)?;
            let b = uaccess::read_user(&mut self.mm, self.uaccess, UserAddr(at), 8)?;
            let ptr = read_u64(self.arch, &b);
            if ptr == 0 {
                return Ok(out);
            }
            let left = MAX_ARG_BYTES.saturating_sub(*total);
            let s = uaccess::read_cstring(&mut self.mm, self.uaccess, UserAddr(ptr), left.min(128 << 10))
                .map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
            *total += s.len() + 1 + 8;
            if *total > MAX_ARG_BYTES {
                return Err(Errno::E2BIG);
            }
            out.push(String::from_utf8_lossy(&s).into_owned());
        }
    }

    /// What exec keeps and resets (fs/exec.c begin_new_exec, flush_signal_handlers,
    /// do_close_on_exec; arm64 flush_thread clears the tagged-address ABI and MTE control):
    /// a fresh address space, caught signals back to their default (ignored ones stay
    /// ignored; mask and pending set kept), no alternate stack, close-on-exec descriptors
    /// closed, no clear_child_tid, no other threads, the command name from the file name.
    ///
    /// On arm64 the new program runs in the same machine (its CPU goes on with the new image,
    /// the process's old mappings are released from the machine's memory, which other
    /// processes share); on sparc64 the machine loads it on a fresh CPU and memory.
    pub fn begin_new_exec(&mut self, req: &ExecRequest) {
        if self.exec_in_place() {
            // A vfork child gives the borrowed address space back; anyone else's goes.
            if !self.end_vfork() {
                self.mm.exit_process();
            }
            self.mm.set_ignored_top_bits(0);
        } else {
            let layout = self.mm.layout().clone();
            let mut mm = AddressSpace::new(layout);
            mm.phys_mut().set_budget(self.config.memory_limit);
            mm.set_cap_sys_rawio(self.config.uid == 0);
            self.mm = mm;
        }
        for signo in 1..=crate::kernel_stub::signal::NSIG as u32 {
            let act = self.signals.action(signo);
            if act.handler != SIG_DFL && act.handler != SIG_IGN {
                let _ = self.signals.set_action(u64::from(signo), Some(SigAction::default()));
            } else if act.handler == SIG_IGN {
                // Ignored stays ignored, but without flags or a mask.
                let _ = self
                    .signals
                    .set_action(u64::from(signo), Some(SigAction { handler: SIG_IGN, ..Default::default() }));
            }
        }
        self.signals.altstack = Default::default();
        self.vfs.close_on_exec();
        self.clear_child_tid = 0;
        // de_thread: the other threads die; the exec'ing thread takes the leader's id.
        self.exit_other_threads();
        self.mte = crate::mte::MteState { machine: self.mte.machine, ..Default::default() };
        self.adi = crate::adi::AdiState { machine: self.adi.machine, ..Default::default() };
        let model = self.uaccess.model;
        self.uaccess = Default::default();
        self.uaccess.model = model;
        self.shm_exec();
        if !self.exec_in_place() {
            self.vfs.forget_page_cache_placements();
            self.exec_clock();
        }
        self.comm = req.path.rsplit('/').next().unwrap_or("").chars().take(15).collect();
        self.exe_path = req.path.clone();
    }

    /// Does exec load the new program into the running machine (arm64), rather than onto a
    /// fresh one (sparc64)?
    pub fn exec_in_place(&self) -> bool {
        self.arch == crate::arch::Arch::Arm64
    }
}
