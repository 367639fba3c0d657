//! `mlops smoke-test`: the reference's post-deployment check of a scoring service.

use std::time::Duration;

use crate::cli::{GlobalArgs, SmokeTestArgs};
use crate::error_kind::UsageError;
use crate::output;
use crate::secret::Secret;
use crate::serve::smoke::{self, Probe, SmokeOptions};

pub async fn run(args: &SmokeTestArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(UsageError(format!("--timeout must be a positive number of seconds, got {}", args.timeout)).into());
    }
    let options = SmokeOptions {
        url: args.url.clone(),
        key: args.key.clone().map(Secret::new),
        timeout: Duration::from_secs_f64(args.timeout),
        probe: if args.get { Probe::Get } else { Probe::Score },
    };
    let report = smoke::run(&options).await?;
    output::emit(global.output, &report, || {
        if args.get {
            return format!("{} is up ({} attempt(s), {} ms)", report.url, report.attempts, report.elapsed_ms);
        }
        format!(
            "smoke test passed: {} answered {:?} ({} attempt(s), {} ms, traceparent {})",
            report.url, report.results, report.attempts, report.elapsed_ms, report.traceparent
        )
    })?;
    Ok(crate::exit::OK)
}
