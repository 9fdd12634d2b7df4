//! `tagmmu sweep`: each axis, JSON lines, the table and heat map, shards merged equal to the
//! whole run, resume after Ctrl-C, and bad sweep files (through the CLI and the library).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tagmmu::sweep::run::{run_collect, run_streaming, Partition, RunOptions};
use tagmmu::sweep::{spec, Outcome};

fn tagmmu(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tagmmu")).args(args).current_dir(dir).output().expect("tagmmu runs")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut v: Vec<(u64, String)> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| (serde_json::from_str::<Value>(l).unwrap()["index"].as_u64().unwrap(), l.to_string()))
        .collect();
    v.sort();
    v.into_iter().map(|x| x.1).collect()
}

fn find<'a>(v: &'a [Value], pred: &dyn Fn(&Value) -> bool) -> &'a Value {
    v.iter().find(|r| pred(r)).expect("a matching point")
}

#[test]
fn every_axis_changes_what_runs_and_the_outcome_follows_the_kernel_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("axes.yaml"),
        "name: axes\nbase: {loop: search_ioctl, kernel: '5.16', bad_offset: 8}\naxes:\n  \
         loop: [search_ioctl, search_ioctl_v2, perform_write_tmpfs, gfs2_read, ext4_direct_read]\n  \
         kernel: ['5.16', '5.19', '6.17']\n  arch: [arm64, sparc64]\n  mode: [sync, async, store_only, adi]\n  \
         fault_in: [upstream, sparc_adi_probe]\n  align: [0x68, 0]\n  len: [4096, 8192]\n  \
         absent: [[], [1]]\n  bad_tag: [5, 3]\n  bad_offset: [none, 8, 200]\n",
    )
    .unwrap();
    let out = tagmmu(&["sweep", "axes.yaml", "--no-progress", "--svg", "axes.svg"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&dir.path().join("axes.jsonl"));
    let plan = spec::load(&dir.path().join("axes.yaml")).unwrap();
    assert_eq!(v.len() as u64, plan.len());
    // Every axis value appears.
    for (key, values) in [
        ("loop", vec!["search_ioctl", "search_ioctl_v2", "perform_write_tmpfs", "gfs2_read", "ext4_direct_read"]),
        ("kernel", vec!["5.16", "5.19", "6.17"]),
        ("arch", vec!["arm64", "sparc64"]),
        ("mode", vec!["sync", "async", "store_only", "adi"]),
        ("fault_in", vec!["upstream", "sparc_adi_probe"]),
    ] {
        for val in values {
            assert!(v.iter().any(|r| r[key] == val), "{key} = {val} missing");
        }
    }
    for (key, values) in [("align", vec![0x68, 0]), ("len", vec![4096, 8192]), ("bad_tag", vec![5, 3])] {
        for val in values {
            assert!(v.iter().any(|r| r[key] == val), "{key} = {val} missing");
        }
    }
    assert!(v.iter().any(|r| r["bad_offset"].is_null()) && v.iter().any(|r| r["bad_offset"] == 200));
    assert!(v.iter().any(|r| r["absent"] == serde_json::json!([1])));
    // Combinations that do not exist are not points: store-only before 6.17, MTE modes on
    // SPARC, the ADI probe on arm64.
    assert!(!v.iter().any(|r| r["mode"] == "store_only" && r["kernel"] != "6.17"));
    assert!(!v.iter().any(|r| r["arch"] == "sparc64" && r["mode"] != "adi"));
    assert!(!v.iter().any(|r| r["arch"] == "arm64" && r["fault_in"] == "sparc_adi_probe"));
    let base = |r: &Value, lp: &str, k: &str, arch: &str, mode: &str| {
        r["loop"] == lp
            && r["kernel"] == k
            && r["arch"] == arch
            && r["mode"] == mode
            && r["align"] == 0x68
            && (r["len"] == 4096 || (lp == "search_ioctl" && r["len"] == 3992))
            && r["absent"] == serde_json::json!([])
            && r["bad_tag"] == 5
            && r["bad_offset"] == 8
            && r["fault_in"] == "upstream"
    };
    // The search live-locks on 5.16 with its cycle, fails with EFAULT on 5.19 (the sub-page
    // probe), and live-locks again in store-only mode on 6.17.
    let r = find(&v, &|r| base(r, "search_ioctl", "5.16", "arm64", "sync"));
    assert_eq!(r["verdict"], "livelock");
    assert_eq!(r["cycle"]["length"], 1);
    assert_eq!(r["cycle"]["fault_offset"], 8);
    assert_eq!(r["fault_in_fn"], "fault_in_writeable");
    assert!(r["ret"].is_null());
    let r = find(&v, &|r| base(r, "search_ioctl", "5.19", "arm64", "sync"));
    assert_eq!((r["verdict"].as_str(), r["errno"].as_str()), (Some("efault"), Some("EFAULT")));
    assert_eq!(r["fault_in_fn"], "fault_in_subpage_writeable");
    assert_eq!(find(&v, &|r| base(r, "search_ioctl", "6.17", "arm64", "store_only"))["verdict"], "livelock");
    // async mode: uaccess is not stopped; a write moves every byte.
    let r = find(&v, &|r| base(r, "perform_write_tmpfs", "5.19", "arm64", "async"));
    assert_eq!((r["verdict"].as_str(), r["bytes_moved"].as_u64()), (Some("completed"), Some(4096)));
    let r = find(&v, &|r| base(r, "perform_write_tmpfs", "5.19", "arm64", "sync"));
    assert_eq!((r["verdict"].as_str(), r["ret"].as_i64()), (Some("short"), Some(8)));
    // The bad tag equal to the pointer's is no bad granule.
    let r = find(&v, &|r| {
        r["loop"] == "perform_write_tmpfs"
            && r["kernel"] == "5.19"
            && r["arch"] == "arm64"
            && r["mode"] == "sync"
            && r["align"] == 0x68
            && r["len"] == 4096
            && r["absent"] == serde_json::json!([])
            && r["bad_tag"] == 3
            && r["bad_offset"] == 8
    });
    assert_eq!(r["verdict"], "completed");
    // 6.17 faults in only after a copy made no progress: an absent page costs a fault-in.
    let absent = |pages: Value| {
        find(&v, &|r| {
            r["loop"] == "perform_write_tmpfs"
                && r["kernel"] == "6.17"
                && r["arch"] == "arm64"
                && r["mode"] == "async"
                && r["align"] == 0
                && r["len"] == 8192
                && r["absent"] == pages
                && r["bad_offset"].is_null()
                && r["bad_tag"] == 5
        })
        .clone()
    };
    let (present, evicted) = (absent(serde_json::json!([])), absent(serde_json::json!([1])));
    assert_eq!((present["verdict"].as_str(), present["fault_in_calls"].as_u64()), (Some("completed"), Some(0)));
    assert_eq!((evicted["verdict"].as_str(), evicted["fault_in_calls"].as_u64()), (Some("completed"), Some(1)));
    // The ADI probe (5.19+) turns SPARC's search live-lock into EFAULT; upstream it spins.
    let sparc = |fl: &str| {
        find(&v, &|r| {
            r["loop"] == "search_ioctl"
                && r["kernel"] == "5.19"
                && r["arch"] == "sparc64"
                && r["fault_in"] == fl
                && r["align"] == 0x68
                && r["absent"] == serde_json::json!([])
                && r["bad_tag"] == 5
                && r["bad_offset"] == 200
        })["verdict"]
            .clone()
    };
    assert_eq!(sparc("upstream"), "livelock");
    assert_eq!(sparc("sparc_adi_probe"), "efault");
    // ext4 O_DIRECT: misaligned buffers are EINVAL, aligned ones move every byte unchecked.
    let ext4 = |align: u64| {
        find(&v, &|r| {
            r["loop"] == "ext4_direct_read"
                && r["kernel"] == "5.19"
                && r["arch"] == "arm64"
                && r["mode"] == "sync"
                && r["align"] == align
                && r["len"] == 4096
                && r["absent"] == serde_json::json!([])
                && r["bad_offset"] == 8
                && r["bad_tag"] == 5
        })
        .clone()
    };
    assert_eq!((ext4(0x68)["verdict"].as_str(), ext4(0x68)["errno"].as_str()), (Some("errno"), Some("EINVAL")));
    assert_eq!(ext4(0)["verdict"], "completed");
    // The table counts per loop x kernels x machine; the heat map draws each loop.
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("| search_ioctl | 5.16 | arm64 | sync | upstream |"), "{table}");
    let svg = std::fs::read_to_string(dir.path().join("axes.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("gfs2_read") && svg.contains("#d62728"));
}

const SHARDED: &str = "name: shards\nbase: {loop: perform_write_ext4, len: 4096}\naxes:\n  \
    loop: [search_ioctl, perform_write_ext4, btrfs_buffered_write, gfs2_direct_write]\n  \
    kernel: ['5.15', '6.1', '6.18']\n  arch: [arm64, sparc64]\n  bad_offset: every_granule\n";

#[test]
fn shards_merged_equal_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.yaml"), SHARDED).unwrap();
    let whole = tagmmu(&["sweep", "s.yaml", "--out", "whole.jsonl", "--svg", "whole.svg", "--no-progress"], d);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    for k in 1..=3 {
        let part = format!("{k}/3");
        let out = format!("part{k}.jsonl");
        let o = tagmmu(&["sweep", "s.yaml", "--partition", &part, "--out", &out, "--no-progress", "-j", "1"], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // The shards are disjoint and cover the sweep.
    let sizes: Vec<usize> = (1..=3).map(|k| lines(&d.join(format!("part{k}.jsonl"))).len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), lines(&d.join("whole.jsonl")).len());
    assert!(sizes.iter().all(|s| *s > 0));
    let merged = tagmmu(
        &[
            "sweep",
            "merge",
            "--sweep",
            "s.yaml",
            "--out",
            "merged.jsonl",
            "--svg",
            "merged.svg",
            "part3.jsonl",
            "part1.jsonl",
            "part2.jsonl",
        ],
        d,
    );
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(sorted_lines(&d.join("merged.jsonl")), sorted_lines(&d.join("whole.jsonl")));
    assert_eq!(merged.stdout, whole.stdout, "the same table");
    assert_eq!(std::fs::read(d.join("merged.svg")).unwrap(), std::fs::read(d.join("whole.svg")).unwrap());
    // Points of another sweep are refused.
    std::fs::write(d.join("other.yaml"), SHARDED.replace("'6.18'", "'6.17'")).unwrap();
    let o = tagmmu(&["sweep", "other.yaml", "--out", "other.jsonl", "--no-progress"], d);
    assert!(o.status.success());
    let mixed = tagmmu(&["sweep", "merge", "part1.jsonl", "other.jsonl"], d);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("different sweeps"));
}

#[test]
fn ctrl_c_keeps_what_finished_and_resume_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Large enough to be interrupted on one thread (2,048 points, seconds in a debug build).
    std::fs::write(
        d.join("big.yaml"),
        "name: big\nbase: {len: 8192}\naxes:\n  loop: [perform_write_tmpfs, gfs2_read]\n  \
         kernel: ['5.15', '6.18']\n  bad_offset: every_granule\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tagmmu"))
        .args(["sweep", "big.yaml", "--no-progress", "-j", "1"])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first results, then interrupt.
    let out = d.join("big.jsonl");
    let t = std::time::Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 10_000 && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let int = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(int.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let plan = spec::load(&d.join("big.yaml")).unwrap();
    let kept = lines(&out).len() as u64;
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("INTERRUPTED") && err.contains("--resume"), "{err}");
    assert!(kept > 0 && kept < plan.len(), "{kept} of {}", plan.len());
    // A half-written last line (a run killed harder) is cut and redone.
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    std::io::Write::write_all(&mut f, b"{\"schema\":1,\"swe").unwrap();
    drop(f);
    let resumed = tagmmu(&["sweep", "big.yaml", "--resume", "big.jsonl", "--no-progress"], d);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let all = sorted_lines(&out);
    assert_eq!(all.len() as u64, plan.len());
    let idx: HashSet<u64> =
        all.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["index"].as_u64().unwrap()).collect();
    assert_eq!(idx.len() as u64, plan.len(), "every point exactly once");
    // The same points as an uninterrupted run.
    let whole = tagmmu(&["sweep", "big.yaml", "--out", "whole.jsonl", "--no-progress"], d);
    assert!(whole.status.success());
    assert_eq!(all, sorted_lines(&d.join("whole.jsonl")));
    assert_eq!(resumed.stdout, whole.stdout, "the same table");
}

#[test]
fn bad_sweep_files_and_options_get_a_clear_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (text, field) in [
        ("name: x\naxes: {kernel: ['5.20']}\n", "axes.kernel"),
        ("name: x\naxes: {mode: [fast]}\n", "axes.mode: unknown mode `fast`"),
        ("name: x\nbase: {len: 0}\n", "base.len"),
        ("name: x\naxes: {bad_offset: {from: 0}}\n", "axes.bad_offset.to: missing"),
        ("base: {}\n", "name: missing"),
        ("name: x\nclaims: [{id: c, quote: q, expect: {never: [slow]}}]\n", "claims"),
    ] {
        std::fs::write(d.join("bad.yaml"), text).unwrap();
        let o = tagmmu(&["sweep", "bad.yaml", "--no-progress"], d);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(field), "{text}: {err}");
    }
    std::fs::write(d.join("ok.yaml"), "name: ok\n").unwrap();
    let o = tagmmu(&["sweep", "ok.yaml", "--partition", "4/3"], d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--partition"));
    // A claim that matches nothing, or expects nothing, could not fail: refused.
    std::fs::write(
        d.join("c.yaml"),
        "name: c\nclaims: [{id: none, quote: q, where: {loops: [fuse_write]}, expect: {never: [livelock]}}]\n",
    )
    .unwrap();
    let o = tagmmu(&["sweep", "c.yaml", "--no-progress", "--report", "r.md"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("claims.none.where: matches no point"));
    std::fs::write(d.join("c.yaml"), "name: c\nclaims: [{id: empty, quote: q, expect: {}}]\n").unwrap();
    let o = tagmmu(&["sweep", "c.yaml", "--no-progress", "--report", "r.md"], d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("claims.empty.expect"));
}

#[test]
fn the_library_runs_sweeps_in_shards_and_stops_when_told() {
    let plan = spec::parse(SHARDED).unwrap();
    let whole = run_collect(&plan, &RunOptions::default()).unwrap();
    assert_eq!(whole.len() as u64, plan.len());
    let mut parts: Vec<_> = (1..=4)
        .flat_map(|k| run_collect(&plan, &RunOptions { jobs: Some(1), partition: Partition { k, n: 4 } }).unwrap())
        .collect();
    parts.sort_by_key(|r| r.index);
    assert_eq!(parts, whole);
    // btrfs_buffered_write live-locks on 6.18 (one page per iteration, no forced read) and
    // not on 6.1.
    let bw = |k: &str| -> Vec<Outcome> {
        whole
            .iter()
            .filter(|r| r.the_loop.name() == "btrfs_buffered_write" && r.kernel == k)
            .map(|r| r.verdict)
            .collect()
    };
    assert!(bw("6.18").contains(&Outcome::Livelock));
    assert!(!bw("6.1").is_empty() && !bw("6.1").contains(&Outcome::Livelock));
    // Cancelling stops new points; what finished is handed over.
    let cancel = AtomicBool::new(false);
    let mut got = 0u64;
    run_streaming(&plan, &RunOptions { jobs: Some(1), ..Default::default() }, &HashSet::new(), &cancel, &mut |_| {
        got += 1;
        if got == 5 {
            cancel.store(true, Ordering::Relaxed);
        }
        Ok(())
    })
    .unwrap();
    assert!((5..plan.len()).contains(&got), "{got}");
}

#[test]
fn the_committed_survey_report_comes_from_the_committed_survey_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = spec::load(&root.join("surveys/fault-in-loops.yaml")).unwrap();
    let report = std::fs::read_to_string(root.join("surveys/fault-in-loops.md")).unwrap();
    // The report names the sweep it was made from (`make survey` regenerates it).
    assert!(report.contains(&format!("{} points (sweep {})", plan.len(), plan.fingerprint)), "stale report");
    for c in &plan.claims {
        assert!(report.contains(&format!("### {}: ", c.id)), "claim {} missing", c.id);
    }
    // The claims tagmmu's model contradicts, and the ones it confirms.
    for (id, verdict) in [
        ("only-search-ioctl", "differs"),
        ("perform-write-progress", "holds"),
        ("odirect-no-livelock-then", "holds"),
        ("odirect-no-livelock-now", "differs"),
        ("fixed-in-5.19-arm64", "holds"),
        ("fixed-in-5.19-everywhere", "differs"),
        ("search-livelocked-before-5.19", "holds"),
    ] {
        assert!(report.contains(&format!("### {id}: {verdict}")), "{id}");
    }
    assert!(std::fs::read_to_string(root.join("surveys/fault-in-loops.svg")).unwrap().starts_with("<svg"));
}

#[test]
fn the_slurm_job_file_runs_shards_that_merge_into_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.yaml"), SHARDED).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tagmmu")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for k in 1..=2 {
        let o = Command::new("bash")
            .arg(root.join("docs/slurm-sweep.sbatch"))
            .arg("s.yaml")
            .env("PATH", &path)
            .env("SLURM_ARRAY_TASK_ID", k.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .env("SLURM_CPUS_PER_TASK", "1")
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = tagmmu(
        &[
            "sweep",
            "merge",
            "--sweep",
            "s.yaml",
            "--out",
            "m.jsonl",
            "shards/shard-1-of-2.jsonl",
            "shards/shard-2-of-2.jsonl",
        ],
        d,
    );
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    let whole = tagmmu(&["sweep", "s.yaml", "--out", "w.jsonl", "--no-progress"], d);
    assert_eq!(sorted_lines(&d.join("m.jsonl")), sorted_lines(&d.join("w.jsonl")));
    assert_eq!(merged.stdout, whole.stdout);
}

/// A sweep point starts at the syscall entry instead of running a guest: the same write from
/// a guest program (`write_partial`, arm64 copy routine) gives the same loop, result and counts.
#[test]
fn a_sweep_point_equals_the_guest_program_making_the_same_syscall() {
    let dir = tempfile::tempdir().unwrap();
    let plan = spec::parse(
        "name: eq\nbase: {loop: perform_write_tmpfs, align: 100, len: 8000, bad_offset: 4892, bad_tag: 9}\n\
         axes: {kernel: ['5.15', '5.16', '5.19', '6.14', '6.18']}\n",
    )
    .unwrap();
    for r in run_collect(&plan, &RunOptions::default()).unwrap() {
        let yaml = format!(
            "name: eq\nprogram: guest:arm64/write_partial\nargs: ['100', '5000', '8000']\n\
             machine: {{kernel: '{}', copy_model: arm64}}\nexpect: {{exit: 0}}\n",
            r.kernel
        );
        let path = dir.path().join("eq.yaml");
        std::fs::write(&path, yaml).unwrap();
        let o = tagmmu::scenario::load(&path).unwrap().run(false).unwrap();
        let guest = &o.result.loops[0];
        let ret = match guest.verdict {
            tagmmu::kernel_stub::loops::Verdict::Completed { ret } => ret,
            ref v => panic!("{v:?}"),
        };
        assert_eq!(r.ret, Some(ret), "{}", r.kernel);
        assert_eq!(r.passes, guest.attempts.passes, "{}", r.kernel);
        assert_eq!(r.fault_in_calls, guest.attempts.fault_in_calls, "{}", r.kernel);
        assert_eq!(r.short_copies, guest.attempts.short_copies, "{}", r.kernel);
    }
}
