//! Progress on stderr: a deployment's (an indicatif display on a terminal, plain lines
//! otherwise, one per change, so CI logs stay readable) and a long read of a data file (a bar on
//! a terminal only).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::ReadProgress;
use crate::infra::deploy::{Progress, ResourceProgress};

/// Files smaller than this are read too fast for a bar to help.
const READ_BAR_MIN_BYTES: u64 = 50 * 1024 * 1024;

/// A bar per pass over a large data file (bytes, rows and rows/s, throughput, ETA), on a
/// terminal's stderr only.
pub struct ReadProgressBar {
    enabled: bool,
    bar: Option<ProgressBar>,
    what: String,
    rows: u64,
}

impl ReadProgressBar {
    /// Shows bars for `path` unless quiet, stderr is not a terminal, or the file is small.
    pub fn new(quiet: bool, path: &std::path::Path) -> Self {
        let large = std::fs::metadata(path).is_ok_and(|m| m.len() >= READ_BAR_MIN_BYTES);
        let enabled = !quiet && large && std::io::stderr().is_terminal();
        ReadProgressBar { enabled, bar: None, what: String::new(), rows: 0 }
    }
}

impl ReadProgress for ReadProgressBar {
    fn begin(&mut self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
        bar.set_message(format!("{what:>9}"));
        self.bar = Some(bar);
        self.what = what.to_string();
        self.rows = 0;
    }

    fn advance(&mut self, bytes: u64, rows: u64) {
        if let Some(bar) = &self.bar {
            self.rows += rows;
            let seconds = bar.elapsed().as_secs_f64();
            // Rows per second says more than bytes to someone who knows their data by its rows;
            // indicatif has no second counter, so the rate is worked out here.
            let rate = if seconds > 0.0 { self.rows as f64 / seconds } else { 0.0 };
            bar.set_message(format!(
                "{:>9} {} rows, {} rows/s",
                self.what,
                HumanCount(self.rows),
                HumanCount(rate as u64)
            ));
            bar.inc(bytes);
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Shows a deployment's progress; silent with `-q`.
pub struct DeploymentProgress {
    quiet: bool,
    fancy: Option<Fancy>,
    last_status: String,
    seen: HashMap<String, String>,
}

struct Fancy {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: HashMap<String, ProgressBar>,
}

impl DeploymentProgress {
    pub fn new(quiet: bool, title: &str) -> Self {
        let fancy = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let overall = multi.add(ProgressBar::new_spinner().with_style(style));
            overall.set_message(title.to_string());
            overall.enable_steady_tick(Duration::from_millis(120));
            Fancy { multi, overall, bars: HashMap::new() }
        });
        if fancy.is_none() && !quiet {
            crate::output::to_stderr(title);
        }
        DeploymentProgress { quiet, fancy, last_status: String::new(), seen: HashMap::new() }
    }
}

impl Progress for DeploymentProgress {
    fn status(&mut self, status: &str) {
        if self.quiet || status == self.last_status {
            return;
        }
        self.last_status = status.to_string();
        match &self.fancy {
            Some(f) => f.overall.set_prefix(status.to_string()),
            None => crate::output::to_stderr(format!("  deployment: {status}")),
        }
    }

    fn resources(&mut self, resources: &[ResourceProgress]) {
        if self.quiet {
            return;
        }
        for r in resources {
            if self.seen.get(&r.resource) == Some(&r.state) {
                continue;
            }
            self.seen.insert(r.resource.clone(), r.state.clone());
            let line = format!("{:<10} {}", r.state, r.resource);
            match &mut self.fancy {
                Some(f) => {
                    let bar = f.bars.entry(r.resource.clone()).or_insert_with(|| {
                        let style = ProgressStyle::with_template("  {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner());
                        f.multi.add(ProgressBar::new_spinner().with_style(style))
                    });
                    bar.set_message(line);
                }
                None => crate::output::to_stderr(format!("  {line}")),
            }
        }
    }

    fn warning(&mut self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.fancy {
            Some(f) => f.multi.suspend(|| crate::output::to_stderr(format!("warning: {message}"))),
            None => crate::output::to_stderr(format!("warning: {message}")),
        }
    }

    fn finish(&mut self) {
        if let Some(f) = &self.fancy {
            for bar in f.bars.values() {
                bar.finish();
            }
            f.overall.finish_and_clear();
        }
    }
}

/// Blob transfers of `mlops image`: a byte bar per blob on a terminal, one line per blob otherwise.
pub struct TransferBar {
    quiet: bool,
    terminal: bool,
    verb: &'static str,
    bar: Option<ProgressBar>,
}

impl TransferBar {
    /// `verb` says what happens to each blob ("uploading", "downloading").
    pub fn new(quiet: bool, verb: &'static str) -> Self {
        TransferBar { quiet, terminal: std::io::stderr().is_terminal(), verb, bar: None }
    }
}

impl crate::oci::TransferProgress for TransferBar {
    fn begin(&mut self, what: &str, total: u64) {
        if self.quiet {
            return;
        }
        if !self.terminal {
            eprintln!("  {} {what} ({})", self.verb, indicatif::HumanBytes(total));
            return;
        }
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
        bar.set_message(format!("{} {what}", self.verb));
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Whether `-q` was given. Set once per process, like the log level: the artifact bar is made
/// where a tracking client is built, beneath the many commands that open a store, none of which
/// otherwise needs to know about `-q`.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hides the artifact transfer bar for the rest of the process (`-q`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Transfers smaller than this in total finish too fast for a bar to help.
const ARTIFACT_BAR_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// One bar for the artifact uploads and downloads of a command (bytes, throughput, ETA, the
/// file last started), on a terminal's stderr only, unless `-q`, once the bytes add up to a
/// large transfer.
pub struct ArtifactTransferBar {
    enabled: bool,
    state: std::sync::Mutex<(u64, u64, Option<ProgressBar>)>,
}

impl ArtifactTransferBar {
    pub fn new() -> Self {
        let enabled = !QUIET.load(std::sync::atomic::Ordering::Relaxed) && std::io::stderr().is_terminal();
        ArtifactTransferBar { enabled, state: std::sync::Mutex::new((0, 0, None)) }
    }
}

impl Default for ArtifactTransferBar {
    fn default() -> Self {
        ArtifactTransferBar::new()
    }
}

impl crate::azure::blob_transfer::TransferProgress for ArtifactTransferBar {
    fn begin(&self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += total;
        if state.2.is_none() && state.0 >= ARTIFACT_BAR_MIN_BYTES {
            let style =
                ProgressStyle::with_template("{msg:>20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(state.0), ProgressDrawTarget::stderr()).with_style(style);
            bar.set_position(state.1);
            state.2 = Some(bar);
        }
        let (length, bar) = (state.0, state.2.as_ref());
        if let Some(bar) = bar {
            bar.set_length(length);
            bar.set_message(what.rsplit('/').next().unwrap_or(what).to_string());
        }
    }

    fn advance(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 += bytes;
        if let Some(bar) = &state.2 {
            bar.inc(bytes);
        }
    }

    fn end(&self, _what: &str) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = &state.2
            && state.1 >= state.0
        {
            bar.finish_and_clear();
        }
    }
}
