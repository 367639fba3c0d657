//! Diagnostics on stderr through `tracing`: `-v` raises the level, `-q` silences all but errors.

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
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(crate::output::stderr_color())
        .try_init();
}
