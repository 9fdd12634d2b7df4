//! The `tagmmu` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use tagmmu::emu::RunLimits;
use tagmmu::kernel_stub::version::KernelVersion;
use tagmmu::kernel_stub::vfs::{InputSource, OutputSink};
use tagmmu::machine::{self, MachineConfig};
use tagmmu::scenario;

/// Emulate the tag-checking MMUs of arm64 MTE and SPARC ADI, with a Linux kernel stub.
#[derive(Parser)]
#[command(name = "tagmmu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a static Linux executable, like qemu-user.
    Exec(ExecArgs),
    /// Run a YAML scenario and check its expectations.
    Run(RunArgs),
    /// Print the loop x kernel table: every modelled fault-in + uaccess loop on every modelled
    /// kernel, arm64 MTE and SPARC ADI, with one mistagged granule in the first record (the
    /// kernel model alone, no guest; Markdown).
    Loops,
    /// Run a sweep (or survey) file: a base point plus axes, every combination on the kernel
    /// model, classified; JSON lines, a summary table, a heat map (`--svg`), a report
    /// (`--report`). `tagmmu sweep merge OUT...` combines shards.
    Sweep(SweepArgs),
    /// List the guest programs built from `programs/` (with `--dir`, print their directory).
    Programs {
        /// Print only the directory.
        #[arg(long)]
        dir: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TraceWhat {
    /// Syscalls and signals.
    Syscalls,
    /// Syscalls, signals and every instruction.
    Insn,
}

#[derive(clap::Args)]
struct ExecArgs {
    /// Trace syscalls and signals to stderr (`--trace=insn` adds every instruction).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "syscalls", value_enum)]
    trace: Option<TraceWhat>,
    /// Stop the guest after about N instructions (exit status 125).
    #[arg(long, value_name = "N")]
    insn_budget: Option<u64>,
    /// Stop the guest after SECONDS of wall time (exit status 124).
    #[arg(long, value_name = "SECONDS")]
    time_budget: Option<f64>,
    /// Set an environment variable for the guest.
    #[arg(short = 'E', value_name = "VAR=VALUE")]
    set_env: Vec<String>,
    /// Remove an environment variable from the guest's environment.
    #[arg(short = 'U', value_name = "VAR")]
    unset_env: Vec<String>,
    /// Start the guest with an empty environment (the host's is passed by default, as qemu-user does).
    #[arg(long)]
    clear_env: bool,
    /// argv[0] for the guest.
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    /// Seed of the guest's random sources.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The guest's CLOCK_REALTIME at start, in seconds since 1970 (the clocks are virtual:
    /// one nanosecond per guest instruction; default 1704067200, 2024-01-01T00:00:00Z).
    #[arg(long, value_name = "SECONDS", conflicts_with = "host_time")]
    epoch: Option<u64>,
    /// Let the guest's clocks follow the host's (runs then differ from run to run).
    #[arg(long)]
    host_time: bool,
    /// The machine's RAM (bytes, or with K, M, G, T: `512M`): mappings are charged against it
    /// as --overcommit says, and a fault that would make more anonymous memory resident is an
    /// OOM kill (SIGKILL). Default: the host's RAM, at most 64G. No swap.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    memory: Option<u64>,
    /// vm.overcommit_memory: heuristic (0, the default: only a single request larger than the
    /// RAM fails), always (1) or never (2: at most half the RAM committed in all).
    #[arg(long, value_name = "MODE")]
    overcommit: Option<tagmmu::kernel_stub::mm::limit::Overcommit>,
    /// Kernel version to model: 5.15, 5.16, 5.17, 5.18, 5.19, 6.1, 6.6, 6.12, 6.14, 6.17 or 6.18
    /// (default 5.19).
    #[arg(long, value_name = "VERSION")]
    kernel: Option<KernelVersion>,
    /// The MTE the arm64 CPU offers (none: no PROT_MTE, no tag instructions).
    #[arg(long, value_enum, default_value = "mte2")]
    mte: tagmmu::mte::MteLevel,
    /// The CPU's preferred tag-check mode, used when a thread asks for several.
    #[arg(long, value_enum, default_value = "async")]
    mte_preferred: tagmmu::mte::TcfMode,
    /// The CPU has FEAT_MTE_STORE_ONLY (used by 6.17+ kernels: PR_MTE_STORE_ONLY, AT_HWCAP3).
    #[arg(long)]
    mte_store_only: bool,
    /// A SPARC CPU without ADI (the default models a SPARC M7, which has it).
    #[arg(long)]
    no_adi: bool,
    /// Instructions between modelled timer ticks (async tag faults are reported there).
    #[arg(long, value_name = "N", default_value_t = tagmmu::machine::DEFAULT_TICK_INTERVAL)]
    tick_interval: u64,
    /// A thread's time slice in instructions (each slice is drawn from the seed between half
    /// and one and a half of it; threads also switch at syscalls).
    #[arg(long, value_name = "N", default_value_t = tagmmu::kernel_stub::task::DEFAULT_QUANTUM,
          value_parser = clap::value_parser!(u64).range(2..))]
    quantum: u64,
    /// Place a host file in the guest filesystem.
    #[arg(long = "file", value_name = "GUEST_PATH=HOST_PATH")]
    files: Vec<String>,
    /// The static executable.
    program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Include the syscall trace in the result.
    #[arg(long)]
    trace: bool,
    /// List every check with its expected and actual value (by default only failed checks
    /// are shown in full).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Model this kernel instead of the scenario's: 5.15, 5.16, 5.17, 5.18, 5.19, 6.1, 6.6,
    /// 6.12, 6.14, 6.17 or 6.18.
    #[arg(long, value_name = "VERSION")]
    kernel: Option<KernelVersion>,
    /// Let the scenario's `program` and `files[].host` read host files outside its directory.
    #[arg(long)]
    allow_host_paths: bool,
    /// Report many scenarios as a summary (the default for several), TAP 13 (as kselftest
    /// prints it) or JUnit XML, on stdout. With one file and no format, the run's own output.
    #[arg(long, value_enum)]
    format: Option<SuiteFormat>,
    /// Also write a self-contained HTML report page here: per kernel-loop pass, a picture of
    /// the buffer's granules with the narrative, the verdict and the proof; several scenarios
    /// side by side.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Worker threads for several scenarios (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Scenario files, or directories to search for `*.yaml` / `*.yml`.
    #[arg(required = true, value_name = "SCENARIO")]
    scenarios: Vec<PathBuf>,
}

/// How `tagmmu run` reports several scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SuiteFormat {
    /// One line per scenario and the totals.
    Summary,
    /// TAP version 13.
    Tap,
    /// JUnit XML.
    Junit,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SweepArgs {
    #[command(subcommand)]
    merge: Option<SweepSub>,
    /// The sweep file (YAML; see docs/sweep.md).
    file: Option<PathBuf>,
    /// Write the points as JSON lines here (default: NAME.jsonl; `-`: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Continue the run in FILE: skip the points it holds and append the rest.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Run the K-th of N deterministic shards (points whose index is K-1 modulo N).
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Write the heat map (SVG) here.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the survey report (Markdown) here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write a self-contained HTML page: the table, the heat map, and the first point of each
    /// outcome with its loops' tag maps.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Do not draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Subcommand)]
enum SweepSub {
    /// Combine shard outputs into one table and heat map (and merged points, report).
    Merge {
        /// The sweep file the shards ran (checks the points belong to it; needed for --report).
        #[arg(long = "sweep", value_name = "FILE")]
        sweep: Option<PathBuf>,
        /// Write the merged points, in index order, here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write the heat map (SVG) here.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Write the survey report (Markdown) here.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The shards' JSON-lines files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

fn sweep(a: SweepArgs) -> ExitCode {
    use tagmmu::sweep::command;
    if let Some(SweepSub::Merge { sweep, out, svg, report, inputs }) = a.merge {
        let c = command::MergeCommand { file: sweep, inputs, out, svg, report };
        return match command::merge(&c) {
            Ok((_, table)) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tagmmu: {e}");
                ExitCode::from(2)
            }
        };
    }
    let Some(file) = a.file else {
        eprintln!("tagmmu: sweep needs a sweep file (or `merge`)");
        return ExitCode::from(2);
    };
    let partition = match a.partition.as_deref().map(str::parse).transpose() {
        Ok(p) => p.unwrap_or(tagmmu::sweep::run::Partition::WHOLE),
        Err(e) => {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    };
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cancel.clone();
    // Ctrl-C: points under way finish and are written; the rest waits for --resume.
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let c = command::SweepCommand {
        file,
        out: a.out,
        resume: a.resume,
        partition,
        jobs: a.jobs,
        svg: a.svg,
        report: a.report,
        html: a.html,
        progress: !a.no_progress,
    };
    match command::sweep(&c, &cancel) {
        Ok(f) if f.interrupted => ExitCode::from(130),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tagmmu: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Exec(a) => exec(a),
        Command::Run(a) => run(a),
        Command::Programs { dir } => programs(dir),
        Command::Sweep(a) => sweep(a),
        Command::Loops => {
            print!("{}", tagmmu::loop_table::markdown(&tagmmu::loop_table::cells()));
            ExitCode::SUCCESS
        }
    }
}

fn programs(dir_only: bool) -> ExitCode {
    let dir = tagmmu::programs::guest_dir();
    if dir_only {
        println!("{}", dir.display());
        return ExitCode::SUCCESS;
    }
    let mut found: Vec<String> = Vec::new();
    for arch in ["arm64", "sparc64"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(arch)) {
            found.extend(rd.filter_map(|e| e.ok()).map(|e| format!("{arch}/{}", e.file_name().to_string_lossy())));
        }
    }
    found.sort();
    if found.is_empty() {
        eprintln!(
            "tagmmu: no guest programs were built in {}: install the cross compilers (`make setup`) and rebuild",
            dir.display()
        );
        return ExitCode::from(1);
    }
    for f in found {
        println!("{}", dir.join(f).display());
    }
    ExitCode::SUCCESS
}

fn exec(a: ExecArgs) -> ExitCode {
    let mut cfg = MachineConfig::new(&a.program).args(a.args.clone());
    cfg.argv0 = a.argv0.clone();
    let mut env: Vec<(String, String)> = if a.clear_env { Vec::new() } else { std::env::vars().collect() };
    for kv in &a.set_env {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("tagmmu: -E takes VAR=VALUE, got {kv:?}");
            return ExitCode::from(2);
        };
        env.retain(|(x, _)| x != k);
        env.push((k.into(), v.into()));
    }
    env.retain(|(k, _)| !a.unset_env.contains(k));
    cfg.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    cfg.kernel.seed = a.seed;
    cfg.kernel.clock.host = a.host_time;
    if let Some(bytes) = a.memory {
        cfg.kernel.memory_limit = bytes;
    }
    if let Some(mode) = a.overcommit {
        cfg.kernel.overcommit = mode;
    }
    if let Some(secs) = a.epoch {
        let Some(ns) = secs.checked_mul(1_000_000_000) else {
            eprintln!("tagmmu: --epoch {secs} is past what a 64-bit nanosecond clock holds");
            return ExitCode::from(2);
        };
        cfg.kernel.clock.epoch_ns = ns;
    }
    cfg.mte = a.mte;
    cfg.mte_preferred = a.mte_preferred;
    cfg.mte_store_only = a.mte_store_only;
    cfg.adi = !a.no_adi;
    cfg.tick_interval = a.tick_interval;
    cfg.quantum = a.quantum;
    if let Some(v) = a.kernel {
        cfg.kernel.version = v;
    }
    cfg.kernel.stdin = InputSource::Inherit;
    cfg.kernel.stdout = OutputSink::Inherit;
    cfg.kernel.stderr = OutputSink::Inherit;
    for f in &a.files {
        let Some((guest, host)) = f.split_once('=') else {
            eprintln!("tagmmu: --file takes GUEST_PATH=HOST_PATH, got {f:?}");
            return ExitCode::from(2);
        };
        match tagmmu::host_file::read_regular(std::path::Path::new(host), tagmmu::host_file::MAX_HOST_FILE) {
            Ok(b) => cfg.files.push((guest.into(), b)),
            Err(e) => {
                eprintln!("tagmmu: --file {f}: cannot read {host}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(s) = a.time_budget {
        // try_from_secs_f64: a budget too large for a Duration (1e30) is an error, not a panic.
        let budget = Duration::try_from_secs_f64(s).ok().filter(|d| s.is_finite() && !d.is_zero());
        let Some(budget) = budget else {
            eprintln!("tagmmu: --time-budget must be a positive number of seconds below 1.8e19, got {s}");
            return ExitCode::from(2);
        };
        cfg.limits = RunLimits { time_budget: Some(budget), ..cfg.limits };
    }
    cfg.limits.insn_budget = a.insn_budget;
    if let Some(t) = a.trace {
        cfg.trace.syscalls = true;
        cfg.trace.insns = t == TraceWhat::Insn;
        cfg.trace.print = true;
    }
    match machine::run(&cfg) {
        Ok(r) => {
            if let Some(l) = r.report_line() {
                eprintln!("{l}");
            }
            ExitCode::from(r.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("tagmmu: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(a: RunArgs) -> ExitCode {
    let single = a.scenarios.len() == 1 && a.format.is_none() && a.scenarios[0].is_file();
    if !single {
        return run_suite(a);
    }
    let loaded = match scenario::load(&a.scenarios[0]) {
        Ok(mut s) => {
            if a.kernel.is_some() {
                s.scenario.machine.kernel = a.kernel;
            }
            s.allow_host_paths = a.allow_host_paths;
            s
        }
        Err(e) => {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match loaded.run(a.trace) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    };
    if a.json {
        match serde_json::to_string_pretty(
            &serde_json::json!({ "name": outcome.name, "passed": outcome.passed(), "exit_code": outcome.result.exit_code(), "result": outcome.result, "checks": outcome.checks }),
        ) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("tagmmu: cannot encode the result: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        use std::io::IsTerminal;
        let style = tagmmu::tagmap::terminal::Style::for_output(std::io::stderr().is_terminal());
        for l in &outcome.result.loops {
            eprint!("{}", tagmmu::tagmap::terminal::narrative_with_maps(l, style));
        }
        for d in &outcome.result.direct_io {
            eprint!("{}", d.narrative());
        }
        print!("{}", String::from_utf8_lossy(&outcome.result.stdout));
        eprint!("{}", String::from_utf8_lossy(&outcome.result.stderr));
        for ev in &outcome.result.trace {
            eprintln!("[tagmmu] {}", ev.line());
        }
        if let Some(l) = outcome.result.report_line() {
            eprintln!("{l}");
        }
        // Failed checks in full; the ones that held named on one line (each with --verbose).
        let held: Vec<&str> = outcome.checks.iter().filter(|c| c.ok).map(|c| c.what.as_str()).collect();
        for c in &outcome.checks {
            if !c.ok || a.verbose {
                let mark = if c.ok { "ok  " } else { "FAIL" };
                eprintln!("{mark} {}: expected {:?}, got {:?}", c.what, c.expected, c.actual);
            }
        }
        if !a.verbose && !held.is_empty() {
            eprintln!("checks held ({} of {}): {}", held.len(), outcome.checks.len(), held.join(", "));
        }
        let verdict = if outcome.passed() { "PASS" } else { "FAIL" };
        eprintln!("scenario {}: {verdict} (exit status {})", outcome.name, outcome.result.exit_code());
    }
    if let Some(html) = &a.html {
        let path = a.scenarios[0].display().to_string();
        let column =
            tagmmu::report_page::Column { name: &outcome.name, path: &path, outcome: Some(&outcome), error: None };
        if let Err(e) = write_page(html, &format!("tagmmu: {}", outcome.name), &[column]) {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `tagmmu run` with several scenarios (or a directory, or a `--format`): run them in
/// parallel with a progress bar, then report.
fn run_suite(a: RunArgs) -> ExitCode {
    use tagmmu::suite;
    if a.json || a.trace {
        eprintln!("tagmmu: --json and --trace apply to one scenario; use --format for several");
        return ExitCode::from(2);
    }
    let files = match suite::collect(&a.scenarios) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    };
    let opts =
        suite::SuiteOptions { kernel: a.kernel, allow_host_paths: a.allow_host_paths, keep_outcomes: a.html.is_some() };
    // Drawn only when stderr is a terminal.
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let results = suite::run_all(&files, &opts, a.jobs, &|| bar.inc(1));
    bar.finish_and_clear();
    let out = match a.format.unwrap_or(SuiteFormat::Summary) {
        SuiteFormat::Summary => suite::summary(&results),
        SuiteFormat::Tap => suite::tap(&results),
        SuiteFormat::Junit => suite::junit(&results),
    };
    print!("{out}");
    if let Some(html) = &a.html {
        let paths: Vec<String> = results.iter().map(|r| r.path.display().to_string()).collect();
        let columns: Vec<tagmmu::report_page::Column> = results
            .iter()
            .zip(&paths)
            .map(|(r, path)| tagmmu::report_page::Column {
                name: &r.name,
                path,
                outcome: r.outcome.as_deref(),
                error: match &r.status {
                    suite::SuiteStatus::Error(e) => Some(e.as_str()),
                    _ => None,
                },
            })
            .collect();
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        if let Err(e) = write_page(html, &format!("tagmmu: {}", names.join(" vs ")), &columns) {
            eprintln!("tagmmu: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(suite::exit_status(&results))
}

/// Write the report page for `columns` to `path`, and say where it is.
fn write_page(path: &std::path::Path, title: &str, columns: &[tagmmu::report_page::Column]) -> Result<(), String> {
    let page = tagmmu::report_page::page(title, columns);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, page).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("tagmmu: report page written to {}", path.display());
    Ok(())
}

/// `--memory SIZE`.
fn parse_memory(s: &str) -> Result<u64, String> {
    tagmmu::kernel_stub::mm::limit::parse_size(s)
}
