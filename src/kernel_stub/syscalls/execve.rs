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
    /// The command name (the base name of the file execve was given, a script's rather
    /// than its interpreter's).
    pub name: String,
}

/// How many #! interpreters may chain (the kernel's bprm nesting limit: ELOOP past it).
const BINPRM_MAX_NESTING: usize = 4;
/// `BINPRM_BUF_SIZE`: how much of the file binfmt_script looks at.
const BINPRM_BUF_SIZE: usize = 256;

/// binfmt_script's parse of a `#!` line: the interpreter and its one optional argument (the
/// rest of the line, trimmed, not split), or `None` for a file that is not a script. The
/// line ends at a newline or at the end of the first 256 bytes; an interpreter name that does
/// not end there, or none at all, is ENOEXEC.
fn script_interpreter(bytes: &[u8]) -> KResult<Option<(String, Option<String>)>> {
    if !bytes.starts_with(b"#!") {
        return Ok(None);
    }
    let buf = &bytes[2..bytes.len().min(BINPRM_BUF_SIZE)];
    let (line, complete) = match buf.iter().position(|&c| c == b'\n') {
        Some(i) => (&buf[..i], true),
        None => (buf, bytes.len() <= BINPRM_BUF_SIZE),
    };
    let line = String::from_utf8_lossy(line);
    let line = line.trim_start_matches([' ', '\t']);
    let end = line.find([' ', '\t']).unwrap_or(line.len());
    let (interp, rest) = line.split_at(end);
    if interp.is_empty() || (end == line.len() && !complete) {
        return Err(Errno::ENOEXEC);
    }
    let arg = rest.trim_matches([' ', '\t']);
    Ok(Some((interp.to_string(), (!arg.is_empty()).then(|| arg.to_string()))))
}

impl Kernel {
    /// `execve(path, argv, envp)`. On success the syscall does not return: the outcome is
    /// [`super::SyscallOutcome::Exec`].
    pub(super) fn sys_execve(&mut self, path: u64, argv: u64, envp: u64) -> KResult<ExecRequest> {
        let p = self.user_path(path)?;
        if p.is_empty() {
            return Err(Errno::ENOENT);
        }
        // The file is looked at before the strings are copied (ENOENT and EACCES before
        // EFAULT and E2BIG, as do_execveat_common opens it first).
        self.executable(&p)?;
        let mut total = 0usize;
        let mut argv = self.user_strings(argv, &mut total)?;
        let envp = self.user_strings(envp, &mut total)?;
        let env_bytes: usize = envp.iter().map(|e| e.len() + 1 + 8).sum();
        // binfmt_script: a #! file runs its interpreter (itself possibly a script, up to
        // the kernel's nesting limit) with the script's path in place of argv[0].
        let mut file = p.clone();
        for _ in 0..=BINPRM_MAX_NESTING {
            let (resolved, bytes) = self.executable(&file)?;
            let Some((interp, arg)) = script_interpreter(&bytes)? else {
                let image = binfmt_elf::parse(&bytes, Some(self.arch)).map_err(|_| Errno::ENOEXEC)?;
                let name = p.rsplit('/').next().unwrap_or("").to_string();
                return Ok(ExecRequest { path: resolved, execfn: p, image, argv, envp, name });
            };
            let mut new_argv = vec![interp.clone()];
            new_argv.extend(arg);
            new_argv.push(file.clone());
            new_argv.extend(argv.into_iter().skip(1));
            if env_bytes + new_argv.iter().map(|a| a.len() + 1 + 8).sum::<usize>() > MAX_ARG_BYTES {
                return Err(Errno::E2BIG);
            }
            argv = new_argv;
            file = interp;
        }
        Err(Errno::ELOOP)
    }

    /// The file `path` names, if it may be executed: its resolved path and bytes (ENOENT,
    /// EACCES without an execute bit or for what is not a regular file).
    fn executable(&self, path: &str) -> KResult<(String, Vec<u8>)> {
        let resolved = self.vfs.resolve(path)?;
        let st = self.vfs.stat(&resolved)?;
        let Some(bytes) = self.vfs.file_contents(&resolved) else { return Err(Errno::EACCES) };
        if st.mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok((resolved, bytes.to_vec()))
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
    /// The new program runs in the same machine: its CPU goes on with the new image, and the
    /// process's old mappings are released from the machine's memory, which other processes
    /// share.
    pub fn begin_new_exec(&mut self, req: &ExecRequest) {
        // A vfork child gives the borrowed address space back; anyone else's goes.
        if !self.end_vfork() {
            self.mm.exit_process();
        }
        self.mm.set_ignored_top_bits(0);
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
        self.shm_detach_all();
        self.comm = req.name.chars().take(15).collect();
        self.exe_path = req.path.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_bang_line_is_parsed_as_binfmt_script_does() {
        let parse = |b: &[u8]| script_interpreter(b);
        assert_eq!(parse(b"\x7fELF"), Ok(None));
        assert_eq!(parse(b"#!/bin/sh\necho"), Ok(Some(("/bin/sh".into(), None))));
        assert_eq!(parse(b"#! \t/bin/sh  -e -x \t\nx"), Ok(Some(("/bin/sh".into(), Some("-e -x".into())))));
        assert_eq!(parse(b"#!/bin/sh"), Ok(Some(("/bin/sh".into(), None))), "a short file without a newline");
        assert_eq!(parse(b"#!  \n"), Err(Errno::ENOEXEC), "no interpreter");
        let mut long = b"#!/".to_vec();
        long.extend(std::iter::repeat_n(b'x', 300));
        assert_eq!(parse(&long), Err(Errno::ENOEXEC), "an interpreter name past the 256-byte buffer");
        let mut long_arg = b"#!/bin/sh ".to_vec();
        long_arg.extend(std::iter::repeat_n(b'a', 300));
        let Ok(Some((interp, Some(arg)))) = parse(&long_arg) else { panic!() };
        assert_eq!((interp.as_str(), arg.len()), ("/bin/sh", 256 - 10), "the argument is cut at the buffer's end");
    }

    #[test]
    fn scripts_chain_up_to_the_nesting_limit() {
        use crate::kernel_stub::syscalls::{SyscallOutcome, Sysno};
        let mut k = Kernel::new(crate::arch::Arch::Arm64, Default::default());
        k.vfs.add_file("/loop", b"#!/loop\n".to_vec()).unwrap();
        let req = crate::kernel_stub::mm::MapRequest::PRIVATE;
        let a =
            k.mm.mmap(0, 4096, crate::kernel_stub::mm::Prot::RW, req, crate::kernel_stub::mm::VmaKind::Anon).unwrap();
        k.mm.write_kernel(a, b"/loop\0").unwrap();
        // Placed #! files are executable (0755).
        let nr = Sysno::Execve.arm64_nr().unwrap();
        assert_eq!(k.syscall(nr, [a, 0, 0, 0, 0, 0]), SyscallOutcome::Return(Err(Errno::ELOOP)));
    }
}
