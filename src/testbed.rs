//! A kernel model with a tagged user buffer and no guest program: the set-up of the loops
//! table ([`crate::loop_table`]) and of the forward-progress checker ([`crate::progress`]).
//! The buffer's memory carries tag (ADI: version) 3, as does the pointer, except the granule
//! (block) holding one chosen byte, tagged 5; chosen pages can be left not present.

use crate::arch::Arch;
use crate::kernel_stub::fault_in::SubpageProbe;
use crate::kernel_stub::loops::LivelockAction;
use crate::kernel_stub::mm::{Access, MapRequest, Placement, Prot, VmaKind};
use crate::kernel_stub::version::KernelVersion;
use crate::kernel_stub::{Kernel, KernelConfig};

/// The machine: architecture, kernel, sub-page probe flavour and (arm64) store-only mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Testbed {
    /// arm64 (MTE, sync mode) or sparc64 (ADI).
    pub arch: Arch,
    /// The modelled kernel.
    pub version: KernelVersion,
    /// The flavour of `probe_subpage_writeable()`.
    pub probe: SubpageProbe,
    /// arm64: the thread runs in store-only mode (loads unchecked, also in uaccess).
    pub store_only: bool,
}

impl Testbed {
    /// arm64 MTE in sync mode with the upstream arm64 probe.
    pub fn arm64(version: KernelVersion) -> Testbed {
        Testbed { arch: Arch::Arm64, version, probe: SubpageProbe::Arm64Mte, store_only: false }
    }

    /// SPARC ADI with `probe` (upstream: [`SubpageProbe::Generic`]).
    pub fn sparc(version: KernelVersion, probe: SubpageProbe) -> Testbed {
        Testbed { arch: Arch::Sparc64, version, probe, store_only: false }
    }
}

/// The user buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    /// Pages mapped (the buffer lies in them).
    pub pages: u64,
    /// Where the buffer starts in the first page.
    pub offset: u64,
    /// The byte (from the buffer's start) whose granule or block is tagged 5, if any.
    pub bad: Option<u64>,
    /// Pages (bit i: page i) that are not present.
    pub absent: u64,
}

/// A kernel whose address space holds the buffer `spec` describes, and the tagged pointer to
/// the buffer. A proven live-lock fails the syscall with EINTR (tagmmu's choice).
pub fn kernel_with_buffer(tb: &Testbed, spec: &BufferSpec, loop_budget: u64) -> (Kernel, u64) {
    let config = KernelConfig {
        version: tb.version,
        subpage_probe: Some(tb.probe),
        livelock_action: LivelockAction::Fail { errno: "EINTR".into() },
        loop_budget,
        mte: crate::mte::MteMachine {
            level: crate::mte::MteLevel::Mte2,
            store_only: tb.store_only,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut k = Kernel::new(tb.arch, config);
    let page = k.mm.page_size();
    let req = MapRequest { placement: Placement::Hint, shared: false };
    let a =
        k.mm.mmap(0, spec.pages * page, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).expect("a fresh address space");
    let scheme = k.mm.layout().tags;
    for g in (0..spec.pages * page).step_by(scheme.granule as usize) {
        k.mm.set_tag(a + g, 3);
    }
    let ubuf = a + spec.offset;
    if let Some(bad) = spec.bad {
        k.mm.set_tag(scheme.granule_of(ubuf + bad), 5);
    }
    for p in 0..spec.pages {
        if spec.absent & (1 << p) == 0 {
            let _ = k.mm.handle_user_fault(a + p * page, Access::Write);
        }
    }
    match tb.arch {
        Arch::Arm64 => {
            k.uaccess.tagged_addr_abi = true;
            k.uaccess.check_loads = !tb.store_only;
            k.uaccess.check_stores = true;
            if tb.store_only {
                k.mte.ctrl.store_only = true;
            }
        }
        Arch::Sparc64 => k.enable_adi(),
    }
    (k, scheme.with_tag(ubuf, 3))
}
