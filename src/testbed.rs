//! A kernel model with a tagged user buffer and no guest program: the set-up of the loops
//! table ([`crate::loop_table`]) and of the forward-progress checker ([`crate::progress`]).
//! The buffer's memory carries tag (ADI: version) 3, as does the pointer, except the granule
//! (block) holding one chosen byte, tagged 5 (or another chosen tag); chosen pages can be left
//! not present. Sweeps ([`crate::sweep`]) start every point from it.

use crate::arch::Arch;
use crate::kernel_stub::fault_in::SubpageProbe;
use crate::kernel_stub::loops::LivelockAction;
use crate::kernel_stub::mm::{Access, MapRequest, Prot, VmaKind};
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
    /// How the thread's accesses to the buffer are tag checked.
    pub mode: CheckMode,
}

/// The thread's tag-check mode, as uaccess sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// arm64 `PR_MTE_TCF_SYNC`: loads and stores checked, precise faults.
    Sync,
    /// arm64 `PR_MTE_TCF_ASYNC`: uaccess is not stopped by a mismatch. The LDTR/STTR accesses
    /// set TFSRE0_EL1.TF0, which the return to user clears without a signal
    /// (`clear_mte_async_tcf`), so a syscall over a mistagged buffer moves every byte.
    Async,
    /// arm64 asymmetric mode (`PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC` on an MTE3 CPU, user
    /// interface from Linux 5.18): loads checked precisely, stores asynchronously.
    Asymm,
    /// arm64 sync mode with `PR_MTE_STORE_ONLY` (Linux 6.17, FEAT_MTE_STORE_ONLY): stores
    /// checked, loads (the kernel's LDTR included) not.
    StoreOnly,
    /// SPARC ADI enabled on the mapping (`PROT_ADI`, MCDE): loads and stores checked.
    Adi,
    /// No tag checking (arm64 `PR_MTE_TCF_NONE`; SPARC without ADI enabled).
    None,
}

impl CheckMode {
    /// Every mode.
    pub const ALL: [CheckMode; 6] =
        [CheckMode::Sync, CheckMode::Async, CheckMode::Asymm, CheckMode::StoreOnly, CheckMode::Adi, CheckMode::None];

    /// Its name (as in sweep files and JSON).
    pub fn name(self) -> &'static str {
        match self {
            CheckMode::Sync => "sync",
            CheckMode::Async => "async",
            CheckMode::Asymm => "asymm",
            CheckMode::StoreOnly => "store_only",
            CheckMode::Adi => "adi",
            CheckMode::None => "none",
        }
    }

    /// Does the mode exist on `arch` under kernel `version`? (Asymmetric mode reached user space
    /// in 5.18, store-only in 6.17; ADI is SPARC's, the MTE modes arm64's.)
    pub fn exists(self, arch: Arch, version: KernelVersion) -> bool {
        match (arch, self) {
            (_, CheckMode::None) => true,
            (Arch::Sparc64, CheckMode::Adi) => true,
            (Arch::Arm64, CheckMode::Sync | CheckMode::Async) => true,
            (Arch::Arm64, CheckMode::Asymm) => version.at_least(5, 18),
            (Arch::Arm64, CheckMode::StoreOnly) => version.at_least(6, 17),
            _ => false,
        }
    }

    /// (loads checked, stores checked) in uaccess.
    pub fn checks(self) -> (bool, bool) {
        match self {
            CheckMode::Sync | CheckMode::Adi => (true, true),
            CheckMode::Asymm => (true, false),
            CheckMode::StoreOnly => (false, true),
            CheckMode::Async | CheckMode::None => (false, false),
        }
    }

    /// The mode a machine of `arch` checks with by default (sync MTE, ADI).
    pub fn default_for(arch: Arch) -> CheckMode {
        match arch {
            Arch::Arm64 => CheckMode::Sync,
            Arch::Sparc64 => CheckMode::Adi,
        }
    }
}

impl Testbed {
    /// arm64 MTE in sync mode with the upstream arm64 probe.
    pub fn arm64(version: KernelVersion) -> Testbed {
        Testbed { arch: Arch::Arm64, version, probe: SubpageProbe::Arm64Mte, mode: CheckMode::Sync }
    }

    /// SPARC ADI with `probe` (upstream: [`SubpageProbe::Generic`]).
    pub fn sparc(version: KernelVersion, probe: SubpageProbe) -> Testbed {
        Testbed { arch: Arch::Sparc64, version, probe, mode: CheckMode::Adi }
    }
}

/// The tag (ADI: version) of the buffer's memory and of the pointer to it.
pub const GOOD_TAG: u8 = 3;

/// The tag (ADI: version) of the mistagged granule or block, by default.
pub const BAD_TAG: u8 = 5;

/// The user buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    /// Pages mapped (the buffer lies in them).
    pub pages: u64,
    /// Where the buffer starts in the first page.
    pub offset: u64,
    /// The byte (from the buffer's start) whose granule or block carries [`BufferSpec::bad_tag`]
    /// instead of 3, if any.
    pub bad: Option<u64>,
    /// The tag (ADI: version) of the bad granule or block; [`BAD_TAG`] unless a sweep varies it.
    pub bad_tag: u8,
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
            store_only: tb.mode == CheckMode::StoreOnly,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut k = Kernel::new(tb.arch, config);
    let page = k.mm.page_size();
    let req = MapRequest::PRIVATE;
    let a =
        k.mm.mmap(0, spec.pages * page, Prot::RW | Prot::TAGGED, req, VmaKind::Anon).expect("a fresh address space");
    let scheme = k.mm.layout().tags;
    for g in (0..spec.pages * page).step_by(scheme.granule as usize) {
        k.mm.set_tag(a + g, GOOD_TAG);
    }
    let ubuf = a + spec.offset;
    if let Some(bad) = spec.bad {
        k.mm.set_tag(scheme.granule_of(ubuf + bad), spec.bad_tag);
    }
    for p in 0..spec.pages {
        if spec.absent & (1 << p) == 0 {
            let _ = k.mm.handle_user_fault(a + p * page, Access::Write);
        }
    }
    let (loads, stores) = tb.mode.checks();
    match tb.arch {
        Arch::Arm64 => {
            k.uaccess.tagged_addr_abi = true;
            k.uaccess.check_loads = loads;
            k.uaccess.check_stores = stores;
            k.mte.ctrl.store_only = tb.mode == CheckMode::StoreOnly;
        }
        Arch::Sparc64 if tb.mode == CheckMode::Adi => k.enable_adi(),
        Arch::Sparc64 => {}
    }
    (k, scheme.with_tag(ubuf, GOOD_TAG))
}
