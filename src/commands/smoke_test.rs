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
    // The sample fits the model: its signature's features, in order.
    let sample = match &args.model {
        Some(reference) => {
            let dir = super::connect::model(reference, &args.store).await?.dir;
            let model = crate::ml::model::load(&dir)?;
            Some(smoke::sample_for(model.feature_names.len()))
        }
        None => None,
    };
    let options = SmokeOptions {
        url: args.url.clone(),
        key: args.key.clone().map(Secret::new),
        timeout: Duration::from_secs_f64(args.timeout),
        probe: if args.get { Probe::Get } else { Probe::Score },
        sample,
        deployment: args.deployment.clone(),
    };
    let report = smoke::run(&options).await?;
    output::emit(global.output, &report, || {
        if args.get {
            return format!(
                "{} is up ({} attempt(s), {})",
                report.url,
                report.attempts,
                crate::duration::human(std::time::Duration::from_millis(report.elapsed_ms as u64))
            );
        }
        format!(
            "smoke test passed: {} answered {:?} to {} rows of {} features ({}) ({} attempt(s), {}, traceparent {})",
            report.url,
            report.results,
            report.results.len(),
            report.features,
            match report.sample_source {
                smoke::SampleSource::Model => "from the model's signature",
                smoke::SampleSource::Service => "from the service's /swagger.json example",
                _ => "the reference's sample",
            },
            report.attempts,
            crate::duration::human(std::time::Duration::from_millis(report.elapsed_ms as u64)),
            report.traceparent
        )
    })?;
    Ok(crate::exit::OK)
}
