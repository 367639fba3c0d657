//! Diagnostics on stderr through `tracing`: `-v` raises the level, `-q` silences all but errors.
//! Every event is masked ([`crate::secret::mask`]) before it reaches stderr, at any level.

use std::io::Write;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over `-v` when set, as users of Rust tools expect.
pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // Other crates stay at warn below -vvv: their trace output can include request bodies.
    let default = if verbose >= 3 { format!("warn,mlops={level}") } else { format!("mlops={level},warn") };
    let filter = EnvFilter::try_from_env(crate::env_vars::RUST_LOG).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr(Vec::new()))
        .with_target(false)
        .with_ansi(crate::output::stderr_color())
        .try_init();
}

/// One event's text, collected whole so that a secret split across writes is still masked, and
/// written to stderr masked when the event is done.
struct MaskedStderr(Vec<u8>);

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedStderr {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().lock().write_all(crate::secret::mask(&text).as_bytes());
    }
}
