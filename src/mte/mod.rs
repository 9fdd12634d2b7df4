//! arm64 MTE: the user ABI (prctl, PROT_MTE, modes), the per-thread check policy, and the
//! tag instructions (in [`insn`]).
//!
//! The mode a thread ends up in follows arch/arm64/kernel/mte.c: the requested TCF bits are
//! kept as asked; the effective mode is the CPU's preferred mode when it was requested, else
//! async, else asymmetric, else sync (`mte_update_sctlr_user`).

pub mod insn;

/// `PROT_MTE` (arm64 uapi mman.h).
pub const PROT_MTE: u64 = 0x20;
/// `PR_TAGGED_ADDR_ENABLE`.
pub const PR_TAGGED_ADDR_ENABLE: u64 = 1;
/// `PR_MTE_TCF_SYNC`.
pub const PR_MTE_TCF_SYNC: u64 = 1 << 1;
/// `PR_MTE_TCF_ASYNC`.
pub const PR_MTE_TCF_ASYNC: u64 = 1 << 2;
/// `PR_MTE_TAG_SHIFT`.
pub const PR_MTE_TAG_SHIFT: u64 = 3;
/// `PR_MTE_TAG_MASK`.
pub const PR_MTE_TAG_MASK: u64 = 0xffff << PR_MTE_TAG_SHIFT;
/// `PR_MTE_STORE_ONLY` (Linux 6.17, b1fabef37bd5 "prctl: Introduce PR_MTE_STORE_ONLY"): only
/// stores are tag-checked (SCTLR_EL1.TCSO0: EL0 and unprivileged loads are not).
pub const PR_MTE_STORE_ONLY: u64 = 1 << 19;

/// What the machine's CPU offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MteLevel {
    /// No MTE (PFR1.MTE = 0): PROT_MTE and the MTE prctl bits are rejected.
    #[default]
    None,
    /// FEAT_MTE2.
    Mte2,
    /// FEAT_MTE3: asymmetric mode is available.
    Mte3,
}

/// A tag-check-fault mode (SCTLR_EL1.TCF0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TcfMode {
    /// Tag check faults are ignored.
    #[default]
    None,
    /// Precise: the access is not performed, SIGSEGV/SEGV_MTESERR at once.
    Sync,
    /// Imprecise: the access is performed, SIGSEGV/SEGV_MTEAERR at the next kernel entry.
    Async,
    /// Loads sync, stores async (FEAT_MTE3).
    Asymm,
}

/// How one access is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Not checked.
    Off,
    /// A mismatch is a precise fault.
    Precise,
    /// A mismatch is recorded and reported later.
    Deferred,
}

impl TcfMode {
    /// How a load (`store` false) or a store is checked in this mode.
    pub fn check(self, store: bool) -> CheckKind {
        match (self, store) {
            (TcfMode::None, _) => CheckKind::Off,
            (TcfMode::Sync, _) | (TcfMode::Asymm, false) => CheckKind::Precise,
            (TcfMode::Async, _) | (TcfMode::Asymm, true) => CheckKind::Deferred,
        }
    }
}

/// Machine-wide MTE options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MteMachine {
    /// What the CPU offers.
    pub level: MteLevel,
    /// The per-CPU preferred mode (`/sys/devices/system/cpu/cpuN/mte_tcf_preferred`).
    pub preferred: TcfMode,
    /// FEAT_MTE_TAGGED_FAR: si_addr can carry the real bits 63:60 (HWCAP3_MTE_FAR). Only
    /// when the modelled kernel uses it (6.16+).
    pub tagged_far: bool,
    /// FEAT_MTE_STORE_ONLY, when the modelled kernel uses it (6.17+): `PR_MTE_STORE_ONLY` is
    /// accepted and HWCAP3_MTE_STORE_ONLY reported.
    pub store_only: bool,
}

impl Default for MteMachine {
    fn default() -> Self {
        MteMachine { level: MteLevel::None, preferred: TcfMode::Async, tagged_far: true, store_only: false }
    }
}

/// A thread's MTE control (what prctl set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MteCtrl {
    /// PR_MTE_TCF_SYNC requested.
    pub sync: bool,
    /// PR_MTE_TCF_ASYNC requested.
    pub asynch: bool,
    /// Asymmetric allowed (SYNC|ASYNC on an MTE3 CPU).
    pub asymm: bool,
    /// The IRG include mask (tags IRG may produce).
    pub include: u16,
    /// `PR_MTE_STORE_ONLY`: loads are not tag-checked.
    pub store_only: bool,
}

impl MteCtrl {
    /// The mode the thread runs in on a CPU whose preferred mode is `preferred`.
    pub fn effective(&self, preferred: TcfMode) -> TcfMode {
        let requested = |m: TcfMode| match m {
            TcfMode::Sync => self.sync,
            TcfMode::Async => self.asynch,
            TcfMode::Asymm => self.asymm,
            TcfMode::None => false,
        };
        if requested(preferred) {
            return preferred;
        }
        if self.asynch {
            TcfMode::Async
        } else if self.asymm {
            TcfMode::Asymm
        } else if self.sync {
            TcfMode::Sync
        } else {
            TcfMode::None
        }
    }

    /// GCR_EL1.Exclude: the tags IRG, ADDG and SUBG never produce.
    pub fn exclude(&self) -> u16 {
        !self.include
    }
}

/// The thread's MTE state as the kernel stub keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MteState {
    /// Machine options.
    pub machine: MteMachine,
    /// prctl state.
    pub ctrl: MteCtrl,
    /// The effective mode (recomputed on prctl).
    pub mode: TcfMode,
}

/// Why `prctl(PR_SET_TAGGED_ADDR_CTRL)` refuses an argument (the kernel returns EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("PR_SET_TAGGED_ADDR_CTRL argument {arg:#x} has bits this machine does not accept (valid: {valid:#x})")]
pub struct InvalidCtrl {
    /// The argument.
    pub arg: u64,
    /// The bits the machine accepts.
    pub valid: u64,
}

impl MteState {
    /// Does the machine have MTE?
    pub fn supported(&self) -> bool {
        self.machine.level != MteLevel::None
    }

    /// `prctl(PR_SET_TAGGED_ADDR_CTRL, arg)` (arg3..5 already checked zero). Returns whether
    /// the tagged-address ABI is now enabled.
    pub fn set_ctrl(&mut self, arg: u64) -> Result<bool, InvalidCtrl> {
        let mut valid = PR_TAGGED_ADDR_ENABLE;
        if self.supported() {
            valid |= PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC | PR_MTE_TAG_MASK;
            if self.machine.store_only {
                valid |= PR_MTE_STORE_ONLY;
            }
        }
        if arg & !valid != 0 {
            return Err(InvalidCtrl { arg, valid });
        }
        if self.supported() {
            let sync = arg & PR_MTE_TCF_SYNC != 0;
            let asynch = arg & PR_MTE_TCF_ASYNC != 0;
            self.ctrl = MteCtrl {
                sync,
                asynch,
                asymm: sync && asynch && self.machine.level == MteLevel::Mte3,
                include: ((arg & PR_MTE_TAG_MASK) >> PR_MTE_TAG_SHIFT) as u16,
                store_only: arg & PR_MTE_STORE_ONLY != 0,
            };
            self.mode = self.ctrl.effective(self.machine.preferred);
        }
        Ok(arg & PR_TAGGED_ADDR_ENABLE != 0)
    }

    /// `prctl(PR_GET_TAGGED_ADDR_CTRL)`: the requested TCF bits and the include mask.
    pub fn get_ctrl(&self, abi_enabled: bool) -> u64 {
        let mut r = abi_enabled as u64;
        if self.supported() {
            r |= (self.ctrl.include as u64) << PR_MTE_TAG_SHIFT;
            if self.ctrl.sync {
                r |= PR_MTE_TCF_SYNC;
            }
            if self.ctrl.asynch {
                r |= PR_MTE_TCF_ASYNC;
            }
            if self.ctrl.store_only {
                r |= PR_MTE_STORE_ONLY;
            }
        }
        r
    }

    /// How the thread's user accesses (and the kernel's unprivileged LDTR/STTR accesses on its
    /// behalf) are checked: the mode, except that store-only mode leaves loads unchecked.
    pub fn check(&self, store: bool) -> CheckKind {
        if !store && self.ctrl.store_only {
            return CheckKind::Off;
        }
        self.mode.check(store)
    }
}

/// `ChooseNonExcludedTag(tag, offset, exclude)` (ARM ARM): step `offset` times to the next
/// tag not in `exclude`; with offset 0, only move off an excluded tag. All excluded: 0.
pub fn choose_non_excluded_tag(tag: u8, offset: u8, exclude: u16) -> u8 {
    if exclude == 0xffff {
        return 0;
    }
    let excluded = |t: u8| exclude & (1 << t) != 0;
    let mut t = tag & 0xf;
    if offset == 0 {
        while excluded(t) {
            t = (t + 1) & 0xf;
        }
    }
    for _ in 0..offset {
        t = (t + 1) & 0xf;
        while excluded(t) {
            t = (t + 1) & 0xf;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(level: MteLevel, preferred: TcfMode) -> MteState {
        MteState { machine: MteMachine { level, preferred, tagged_far: true, store_only: false }, ..Default::default() }
    }

    #[test]
    fn prctl_validation_and_round_trip() {
        let mut s = state(MteLevel::Mte2, TcfMode::Async);
        let arg = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC | (0xfffe << PR_MTE_TAG_SHIFT);
        assert_eq!(s.set_ctrl(arg), Ok(true));
        assert_eq!(s.mode, TcfMode::Sync);
        assert_eq!(s.get_ctrl(true), arg);
        assert_eq!(s.ctrl.exclude(), 0x0001);
        assert!(s.set_ctrl(1 << 30).is_err());
        let mut none = state(MteLevel::None, TcfMode::Async);
        assert_eq!(
            none.set_ctrl(PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC),
            Err(InvalidCtrl { arg: PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC, valid: PR_TAGGED_ADDR_ENABLE }),
            "no MTE: TCF bits invalid"
        );
        assert_eq!(none.set_ctrl(PR_TAGGED_ADDR_ENABLE), Ok(true));
    }

    #[test]
    fn mode_selection_follows_the_preferred_mode() {
        let mut s = state(MteLevel::Mte2, TcfMode::Async);
        s.set_ctrl(PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC).unwrap();
        assert_eq!(s.mode, TcfMode::Async, "async preferred by default");
        let mut s = state(MteLevel::Mte2, TcfMode::Sync);
        s.set_ctrl(PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC).unwrap();
        assert_eq!(s.mode, TcfMode::Sync);
        let mut s = state(MteLevel::Mte3, TcfMode::Asymm);
        s.set_ctrl(PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC).unwrap();
        assert_eq!(s.mode, TcfMode::Asymm);
        let mut s = state(MteLevel::Mte2, TcfMode::Asymm);
        s.set_ctrl(PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC).unwrap();
        assert_eq!(s.mode, TcfMode::Async, "no asymm without MTE3");
        s.set_ctrl(0).unwrap();
        assert_eq!(s.mode, TcfMode::None);
        assert_eq!(TcfMode::Asymm.check(false), CheckKind::Precise);
        assert_eq!(TcfMode::Asymm.check(true), CheckKind::Deferred);
    }

    #[test]
    fn choose_non_excluded_tag_steps_over_excluded_tags() {
        assert_eq!(choose_non_excluded_tag(3, 0, 0xffff), 0);
        assert_eq!(choose_non_excluded_tag(0, 0, 0x0001), 1);
        assert_eq!(choose_non_excluded_tag(0, 1, 0x0001), 1);
        assert_eq!(choose_non_excluded_tag(15, 1, 0x0001), 1, "wraps past excluded 0");
        assert_eq!(choose_non_excluded_tag(2, 3, 0x0010), 6, "3->4(excl)->5, 6: three steps from 2 skipping 4");
        assert_eq!(choose_non_excluded_tag(5, 0, !0x0020), 5);
        assert_eq!(choose_non_excluded_tag(1, 2, !0x0020), 5, "only tag 5 allowed");
    }
}
