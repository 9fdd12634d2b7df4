//! exec: map a static executable and build the initial stack as Linux's `binfmt_elf` does.
//!
//! Stack layout (fs/exec.c, fs/binfmt_elf.c `create_elf_tables`), from the top down: an
//! 8-byte gap, the execfn string, the environment strings, the argument strings (so in
//! ascending memory `argv[0]` comes first); then, 16-byte aligned, the platform string and
//! the 16 AT_RANDOM bytes; then, 16-byte aligned, argc, the argv pointers and NULL, the envp
//! pointers and NULL, and the auxiliary vector ending in AT_NULL.

use crate::addr::UserAddr;
use crate::arch::StructWriter;
use crate::kernel_stub::binfmt_elf::ElfImage;
use crate::kernel_stub::errno::{Errno, KResult};
use crate::kernel_stub::mm::{Prot, VmaKind};
use crate::kernel_stub::uaccess::{self, UaccessCtx};
use crate::kernel_stub::Kernel;

/// Auxiliary vector keys (include/uapi/linux/auxvec.h and the arch headers).
pub mod at {
    #![allow(missing_docs)]
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_HWCAP3: u64 = 29;
    pub const AT_EXECFN: u64 = 31;
    pub const AT_ADI_BLKSZ: u64 = 48;
    pub const AT_ADI_NBITS: u64 = 49;
    pub const AT_ADI_UEONADI: u64 = 50;
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

/// What exec needs besides the image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecParams {
    /// argv (`argv[0]` included).
    pub argv: Vec<String>,
    /// envp, as `KEY=value` strings.
    pub envp: Vec<String>,
    /// The path exec was given (AT_EXECFN, /proc/self/exe).
    pub execfn: String,
    /// Architecture-specific auxv entries that Linux puts first (`ARCH_DLINFO`).
    pub arch_auxv: Vec<(u64, u64)>,
    /// AT_HWCAP.
    pub hwcap: u64,
    /// AT_HWCAP2, if the architecture has it.
    pub hwcap2: Option<u64>,
    /// AT_HWCAP3, if the modelled kernel reports it.
    pub hwcap3: Option<u64>,
}

/// Where the guest starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialState {
    /// The entry point.
    pub pc: u64,
    /// The initial stack pointer (points at argc).
    pub sp: u64,
}

/// Upper bound on argument plus environment strings (`ARG_MAX`-like: a quarter of the stack).
pub const MAX_ARG_BYTES: usize = 2 << 20;

impl Kernel {
    /// Map `image`, set up brk, build the stack and return the initial state.
    pub fn exec(&mut self, image: &ElfImage, params: &ExecParams) -> KResult<InitialState> {
        let page = self.mm.page_size();
        // Page-rounded ranges, merged where segments share a page (the shared page gets the
        // union of the permissions, so both segments' accesses keep working).
        let mut ranges: Vec<(u64, u64, Prot)> = image
            .segments
            .iter()
            .map(|s| (s.vaddr & !(page - 1), (s.vaddr + s.memsz).div_ceil(page) * page, s.prot))
            .collect();
        ranges.sort_by_key(|r| r.0);
        let mut merged: Vec<(u64, u64, Prot)> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.0 < last.1 => {
                    // Split at the shared page: earlier pages keep their own permissions.
                    let shared_start = r.0;
                    let (lstart, lend, lprot) = *last;
                    if shared_start > lstart {
                        last.1 = shared_start;
                        merged.push((shared_start, lend, lprot | r.2));
                    } else {
                        last.2 = lprot | r.2;
                    }
                    if r.1 > lend {
                        merged.push((lend, r.1, r.2));
                    }
                }
                _ => merged.push(r),
            }
        }
        for (start, end, prot) in merged {
            self.mm.map_fixed(start, end - start, prot, VmaKind::Image)?;
        }
        for s in &image.segments {
            self.mm.write_kernel(s.vaddr, &s.data).map_err(|_| Errno::EFAULT)?;
        }
        self.mm.init_brk(image.brk_start)?;
        let top = self.mm.map_stack()?;
        self.exe_path = params.execfn.clone();
        self.build_stack(top, image, params)
    }

    fn build_stack(&mut self, top: u64, image: &ElfImage, params: &ExecParams) -> KResult<InitialState> {
        let total: usize =
            params.argv.iter().chain(&params.envp).map(|s| s.len() + 1).sum::<usize>() + params.execfn.len() + 1;
        if total > MAX_ARG_BYTES {
            return Err(Errno::E2BIG);
        }
        let ctx = UaccessCtx::default();
        let mut p = top - 8;
        let mut put_str = |k: &mut Kernel, s: &str| -> KResult<u64> {
            let mut b = s.as_bytes().to_vec();
            b.push(0);
            p -= b.len() as u64;
            uaccess::write_user(&mut k.mm, ctx, UserAddr(p), &b)?;
            Ok(p)
        };
        let execfn = put_str(self, &params.execfn)?;
        let mut envp: Vec<u64> = Vec::new();
        for e in params.envp.iter().rev() {
            envp.push(put_str(self, e)?);
        }
        envp.reverse();
        let mut argv: Vec<u64> = Vec::new();
        for a in params.argv.iter().rev() {
            argv.push(put_str(self, a)?);
        }
        argv.reverse();
        let mut p = p & !15;
        let platform_addr = match self.arch.platform() {
            Some(platform) => {
                p -= platform.len() as u64 + 1;
                let mut pb = platform.as_bytes().to_vec();
                pb.push(0);
                uaccess::write_user(&mut self.mm, ctx, UserAddr(p), &pb)?;
                Some(p)
            }
            None => None,
        };
        p -= 16;
        let random_addr = p;
        let mut rnd = [0u8; 16];
        self.random_bytes(&mut rnd);
        uaccess::write_user(&mut self.mm, ctx, UserAddr(random_addr), &rnd)?;

        use at::*;
        let mut aux: Vec<(u64, u64)> = params.arch_auxv.clone();
        aux.extend([
            (AT_HWCAP, params.hwcap),
            (AT_PAGESZ, self.mm.page_size()),
            (AT_CLKTCK, 100),
            (AT_PHDR, image.phdr_addr),
            (AT_PHENT, image.phent),
            (AT_PHNUM, image.phnum),
            (AT_BASE, 0),
            (AT_FLAGS, 0),
            (AT_ENTRY, image.entry),
            (AT_UID, self.config.uid as u64),
            (AT_EUID, self.config.uid as u64),
            (AT_GID, self.config.gid as u64),
            (AT_EGID, self.config.gid as u64),
            (AT_SECURE, 0),
            (AT_RANDOM, random_addr),
        ]);
        if let Some(h2) = params.hwcap2 {
            aux.push((AT_HWCAP2, h2));
        }
        if let Some(h3) = params.hwcap3 {
            aux.push((AT_HWCAP3, h3));
        }
        aux.push((AT_EXECFN, execfn));
        if let Some(a) = platform_addr {
            aux.push((AT_PLATFORM, a));
        }
        aux.push((AT_NULL, 0));

        let words = 1 + argv.len() + 1 + envp.len() + 1 + aux.len() * 2;
        let sp = (p - words as u64 * 8) & !15;
        let mut w = StructWriter::new(self.arch);
        w.u64(argv.len() as u64);
        for a in &argv {
            w.u64(*a);
        }
        w.u64(0);
        for e in &envp {
            w.u64(*e);
        }
        w.u64(0);
        for (k, v) in &aux {
            w.u64(*k).u64(*v);
        }
        uaccess::write_user(&mut self.mm, ctx, UserAddr(sp), &w.finish())?;
        Ok(InitialState { pc: image.entry, sp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::kernel_stub::binfmt_elf::LoadSegment;
    use crate::kernel_stub::KernelConfig;

    fn image() -> ElfImage {
        ElfImage {
            arch: Arch::Arm64,
            entry: 0x40_0010,
            segments: vec![
                LoadSegment {
                    vaddr: 0x40_0000,
                    memsz: 0x1800,
                    data: vec![0xaa; 0x1800],
                    prot: Prot::READ | Prot::EXEC,
                },
                LoadSegment { vaddr: 0x40_1800, memsz: 0x3000, data: vec![0xbb; 0x100], prot: Prot::RW },
            ],
            phdr_addr: 0x40_0040,
            phnum: 2,
            phent: 56,
            brk_start: 0x40_4800,
            load_bias: 0,
            code_ranges: Vec::new(),
        }
    }

    fn read_u64(k: &Kernel, a: u64) -> u64 {
        let mut b = [0u8; 8];
        k.mm.read_kernel(a, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn read_str(k: &Kernel, a: u64) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        loop {
            k.mm.read_kernel(a + out.len() as u64, &mut b).unwrap();
            if b[0] == 0 {
                return String::from_utf8(out).unwrap();
            }
            out.push(b[0]);
        }
    }

    #[test]
    fn stack_layout_follows_binfmt_elf() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let params = ExecParams {
            argv: vec!["prog".into(), "a1".into()],
            envp: vec!["K=V".into()],
            execfn: "/bin/prog".into(),
            hwcap: 0x3,
            hwcap2: Some(0x40000),
            ..Default::default()
        };
        let st = k.exec(&image(), &params).unwrap();
        assert_eq!(st.sp % 16, 0);
        assert_eq!(read_u64(&k, st.sp), 2);
        assert_eq!(read_str(&k, read_u64(&k, st.sp + 8)), "prog");
        assert_eq!(read_str(&k, read_u64(&k, st.sp + 16)), "a1");
        assert_eq!(read_u64(&k, st.sp + 24), 0);
        assert_eq!(read_str(&k, read_u64(&k, st.sp + 32)), "K=V");
        assert_eq!(read_u64(&k, st.sp + 40), 0);
        let mut a = st.sp + 48;
        let mut aux = std::collections::BTreeMap::new();
        let mut order = Vec::new();
        loop {
            let (key, val) = (read_u64(&k, a), read_u64(&k, a + 8));
            order.push(key);
            if key == 0 {
                break;
            }
            aux.insert(key, val);
            a += 16;
        }
        assert_eq!(order[..4], [at::AT_HWCAP, at::AT_PAGESZ, at::AT_CLKTCK, at::AT_PHDR]);
        assert_eq!(aux[&at::AT_PAGESZ], 4096);
        assert_eq!(aux[&at::AT_ENTRY], 0x40_0010);
        assert_eq!(aux[&at::AT_HWCAP2], 0x40000);
        assert_eq!(read_str(&k, aux[&at::AT_PLATFORM]), "aarch64");
        assert_eq!(read_str(&k, aux[&at::AT_EXECFN]), "/bin/prog");
        // The segments share the page at 0x401000: it must be readable, writable, executable.
        assert_eq!(k.mm.prot_at(0x40_1000), Some(Prot::RWX));
        assert_eq!(k.mm.prot_at(0x40_0000), Some(Prot::READ | Prot::EXEC));
        assert_eq!(k.mm.prot_at(0x40_2000), Some(Prot::RW));
        let mut b = [0u8; 2];
        k.mm.read_kernel(0x40_17ff, &mut b).unwrap();
        assert_eq!(b, [0xaa, 0xbb]);
        assert_eq!(k.mm.brk(), 0x40_5000);
    }

    #[test]
    fn huge_arguments_are_e2big() {
        let mut k = Kernel::new(Arch::Arm64, KernelConfig::default());
        let params = ExecParams { argv: vec!["x".repeat(MAX_ARG_BYTES)], ..Default::default() };
        assert_eq!(k.exec(&image(), &params), Err(Errno::E2BIG));
    }
}
