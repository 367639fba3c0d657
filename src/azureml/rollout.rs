//! Safe rollout of a new deployment behind an online endpoint: deploy it with no traffic, then
//! for each stage smoke-test it (pinned with `azureml-model-deployment`) and give it that
//! percent of live traffic; on any failure put traffic back exactly as it was. Written against
//! [`RolloutTarget`] so the logic is tested without HTTP.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use super::AzureMlError;
use super::traffic::{self, Traffic};
use crate::error_kind::{ErrorKind, HasKind};

/// What a rollout acts on: the endpoint's traffic, the new deployment, the smoke test.
#[async_trait::async_trait(?Send)]
pub trait RolloutTarget {
    /// The endpoint's live and mirrored traffic.
    async fn traffic(&mut self) -> Result<(Traffic, Traffic), AzureMlError>;
    /// Creates or updates the new deployment and waits until it is provisioned.
    async fn deploy(&mut self) -> Result<(), AzureMlError>;
    /// Smoke-tests the new deployment alone; `Err` says why it failed.
    async fn smoke_test(&mut self) -> Result<String, String>;
    /// Sets live and mirrored traffic and waits until the endpoint has it.
    async fn set_traffic(&mut self, traffic: &Traffic, mirror: &Traffic) -> Result<(), AzureMlError>;
}

/// Resolves when the user asks to stop (Ctrl-C).
pub type Interrupt<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// Why a rollout did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("--rollout {0}")]
    Stages(String),
    #[error(
        "deployment {deployment:?} already takes {percent}% of the live traffic of {endpoint:?}; roll out under another deployment name (blue/green)"
    )]
    AlreadyLive { endpoint: String, deployment: String, percent: u32 },
    #[error("{0}")]
    Service(#[from] AzureMlError),
    #[error("rolled back: deployment {deployment:?} failed at the {stage}% stage ({reason}); traffic of {endpoint:?} is back at {}", traffic::render(.traffic))]
    RolledBack { endpoint: String, deployment: String, stage: u32, reason: String, traffic: Traffic },
    #[error("deployment {deployment:?} failed at the {stage}% stage ({reason}), and putting traffic of {endpoint:?} back at {} failed too: {rollback}; set it with `mlops endpoint traffic`", traffic::render(.traffic))]
    RollbackFailed {
        endpoint: String,
        deployment: String,
        stage: u32,
        reason: String,
        traffic: Traffic,
        rollback: String,
    },
    #[error(
        "interrupted while deployment {deployment:?} was provisioning: it goes on in Azure ML (`mlops endpoint show {endpoint}`); traffic untouched"
    )]
    InterruptedProvisioning { endpoint: String, deployment: String },
    #[error("interrupted at the {stage}% stage of deployment {deployment:?}: traffic of {endpoint:?} is back at {}", traffic::render(.traffic))]
    Interrupted { endpoint: String, deployment: String, stage: u32, traffic: Traffic },
}

impl HasKind for RolloutError {
    fn kind(&self) -> ErrorKind {
        match self {
            RolloutError::Stages(_) | RolloutError::AlreadyLive { .. } => ErrorKind::Usage,
            RolloutError::Service(e) => e.kind(),
            RolloutError::RolledBack { .. } => ErrorKind::RolledBack,
            RolloutError::RollbackFailed { .. } => ErrorKind::Remote,
            RolloutError::InterruptedProvisioning { .. } | RolloutError::Interrupted { .. } => ErrorKind::Interrupted,
        }
    }
}

/// `10,50,100`: increasing whole percents from 1 to 100 ending at 100.
pub fn parse_stages(text: &str) -> Result<Vec<u32>, RolloutError> {
    let bad = |why: String| RolloutError::Stages(format!("{text:?}: {why}"));
    let mut stages = Vec::new();
    for part in text.split(',') {
        let stage: u32 = part
            .trim()
            .parse()
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| bad(format!("{:?} is not a whole percent from 1 to 100", part.trim())))?;
        if stages.last().is_some_and(|last| *last >= stage) {
            return Err(bad("the stages must increase".to_string()));
        }
        stages.push(stage);
    }
    if stages.last() != Some(&100) {
        return Err(bad("the last stage must be 100".to_string()));
    }
    Ok(stages)
}

/// One stage as it went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageReport {
    pub percent: u32,
    /// What the smoke test said (its summary, or why it failed).
    pub smoke_test: String,
    pub passed: bool,
    /// The live traffic this stage set; `None` when it failed before setting any.
    pub traffic: Option<Traffic>,
}

/// How a rollout ended (`-o json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RolloutReport {
    pub endpoint: String,
    pub deployment: String,
    /// `completed` or `rolled-back`.
    pub outcome: String,
    pub previous_traffic: Traffic,
    pub stages: Vec<StageReport>,
    pub final_traffic: Traffic,
    pub mirror_traffic: Traffic,
}

/// Rolls `deployment` out behind `endpoint` in `stages`. `note` hears one line per event.
///
/// Returns the report of a completed rollout; a failed stage ends in [`RolloutError::RolledBack`]
/// (with the report of what happened) once traffic is back as it was. A deployment that fails to
/// provision ends before any traffic is touched. `interrupt` (Ctrl-C) stops waiting for the
/// provisioning (which goes on) or, once a stage has begun, rolls traffic back like a failure:
/// a half-done rollout is never left behind by a user who stopped watching it.
pub async fn roll_out(
    target: &mut dyn RolloutTarget,
    endpoint: &str,
    deployment: &str,
    stages: &[u32],
    note: &mut dyn FnMut(String),
    mut interrupt: Interrupt<'_>,
) -> Result<RolloutReport, (Option<RolloutReport>, RolloutError)> {
    let (before, mirror) = target.traffic().await.map_err(|e| (None, e.into()))?;
    if let Some(percent) = before.get(deployment).copied().filter(|p| *p > 0) {
        let err =
            RolloutError::AlreadyLive { endpoint: endpoint.to_string(), deployment: deployment.to_string(), percent };
        return Err((None, err));
    }
    note(format!("deploying {deployment} to {endpoint} with no traffic (live: {})", traffic::render(&before)));
    tokio::select! {
        biased;
        deployed = target.deploy() => deployed.map_err(|e| (None, e.into()))?,
        () = &mut interrupt => {
            let err = RolloutError::InterruptedProvisioning {
                endpoint: endpoint.to_string(),
                deployment: deployment.to_string(),
            };
            return Err((None, err));
        }
    }
    // With nobody else taking traffic, a partial stage would leave the rest of the traffic nowhere.
    let others = before.iter().any(|(k, v)| k != deployment && *v > 0);
    let stages: Vec<u32> = if others { stages.to_vec() } else { vec![100] };
    // A deployment takes live or mirrored traffic, never both.
    let stage_mirror: Traffic =
        mirror.iter().filter(|(k, _)| k.as_str() != deployment).map(|(k, v)| (k.clone(), *v)).collect();
    let mut report = RolloutReport {
        endpoint: endpoint.to_string(),
        deployment: deployment.to_string(),
        outcome: "completed".to_string(),
        previous_traffic: before.clone(),
        stages: Vec::new(),
        final_traffic: before.clone(),
        mirror_traffic: mirror.clone(),
    };
    for percent in stages {
        note(format!("stage {percent}%: smoke-testing {deployment}"));
        let mut interrupted = false;
        let smoke = tokio::select! {
            biased;
            smoke = target.smoke_test() => smoke,
            () = &mut interrupt => { interrupted = true; Err("interrupted (Ctrl-C)".to_string()) }
        };
        let failure = match smoke {
            Err(reason) if interrupted => Some(reason),
            Err(reason) => {
                report.stages.push(StageReport { percent, smoke_test: reason.clone(), passed: false, traffic: None });
                Some(format!("smoke test: {reason}"))
            }
            Ok(summary) => {
                let next = traffic::stage(&before, deployment, percent);
                report.stages.push(StageReport {
                    percent,
                    smoke_test: summary,
                    passed: true,
                    traffic: Some(next.clone()),
                });
                // Interrupted while the update is applied: the endpoint may have it; the
                // rollback below puts the previous traffic back either way.
                let set = tokio::select! {
                    biased;
                    set = target.set_traffic(&next, &stage_mirror) => Some(set),
                    () = &mut interrupt => None,
                };
                match set {
                    None => {
                        interrupted = true;
                        Some("interrupted (Ctrl-C)".to_string())
                    }
                    Some(Ok(())) => {
                        note(format!("stage {percent}%: traffic {}", traffic::render(&next)));
                        report.final_traffic = next;
                        report.mirror_traffic = stage_mirror.clone();
                        None
                    }
                    Some(Err(e)) => Some(format!("setting traffic: {e}")),
                }
            }
        };
        if let Some(reason) = failure {
            note(format!("stage {percent}% failed: {reason}; rolling back to {}", traffic::render(&before)));
            let common = (endpoint.to_string(), deployment.to_string());
            return Err(match target.set_traffic(&before, &mirror).await {
                Ok(()) => {
                    report.outcome = "rolled-back".to_string();
                    report.final_traffic = before.clone();
                    report.mirror_traffic = mirror.clone();
                    if interrupted {
                        let err = RolloutError::Interrupted {
                            endpoint: common.0,
                            deployment: common.1,
                            stage: percent,
                            traffic: before,
                        };
                        return Err((Some(report), err));
                    }
                    let err = RolloutError::RolledBack {
                        endpoint: common.0,
                        deployment: common.1,
                        stage: percent,
                        reason,
                        traffic: before,
                    };
                    (Some(report), err)
                }
                Err(e) => {
                    report.outcome = "rollback-failed".to_string();
                    let err = RolloutError::RollbackFailed {
                        endpoint: common.0,
                        deployment: common.1,
                        stage: percent,
                        reason,
                        traffic: before,
                        rollback: e.to_string(),
                    };
                    (Some(report), err)
                }
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Traffic in memory; the smoke test fails from stage `fail_smoke_at` (1-based call count).
    #[derive(Default)]
    struct Fake {
        traffic: Traffic,
        mirror: Traffic,
        deploy_fails: bool,
        fail_smoke_at: Option<usize>,
        fail_set_at: Option<usize>,
        /// The smoke test of this call (1-based) never answers.
        hang_smoke_at: Option<usize>,
        smokes: usize,
        sets: Vec<Traffic>,
    }

    #[async_trait::async_trait(?Send)]
    impl RolloutTarget for Fake {
        async fn traffic(&mut self) -> Result<(Traffic, Traffic), AzureMlError> {
            Ok((self.traffic.clone(), self.mirror.clone()))
        }
        async fn deploy(&mut self) -> Result<(), AzureMlError> {
            if self.deploy_fails {
                return Err(AzureMlError::DeploymentFailed {
                    endpoint: "ep".into(),
                    deployment: "green".into(),
                    error: None,
                });
            }
            Ok(())
        }
        async fn smoke_test(&mut self) -> Result<String, String> {
            self.smokes += 1;
            if self.hang_smoke_at == Some(self.smokes) {
                std::future::pending::<()>().await;
            }
            if self.fail_smoke_at.is_some_and(|n| self.smokes >= n) { Err("HTTP 500".into()) } else { Ok("ok".into()) }
        }
        async fn set_traffic(&mut self, traffic: &Traffic, mirror: &Traffic) -> Result<(), AzureMlError> {
            self.sets.push(traffic.clone());
            if self.fail_set_at == Some(self.sets.len()) {
                return Err(AzureMlError::Invalid("409 conflict".into()));
            }
            self.traffic = traffic.clone();
            self.mirror = mirror.clone();
            Ok(())
        }
    }

    fn map(pairs: &[(&str, u32)]) -> Traffic {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    async fn run(fake: &mut Fake, stages: &[u32]) -> Result<RolloutReport, (Option<RolloutReport>, RolloutError)> {
        let mut lines = Vec::new();
        roll_out(fake, "ep", "green", stages, &mut |l| lines.push(l), std::pin::pin!(std::future::pending())).await
    }

    #[tokio::test]
    async fn a_good_rollout_walks_the_stages_to_100() {
        let mut fake = Fake { traffic: map(&[("blue", 100)]), mirror: map(&[("green", 10)]), ..Fake::default() };
        let report = run(&mut fake, &[10, 50, 100]).await.expect("completed");
        assert_eq!(
            fake.sets,
            vec![
                map(&[("blue", 90), ("green", 10)]),
                map(&[("blue", 50), ("green", 50)]),
                map(&[("blue", 0), ("green", 100)])
            ]
        );
        assert_eq!(fake.smokes, 3);
        assert_eq!(report.outcome, "completed");
        assert_eq!(report.final_traffic, map(&[("blue", 0), ("green", 100)]));
        assert!(fake.mirror.is_empty(), "green no longer mirrored once live: {:?}", fake.mirror);
    }

    #[tokio::test]
    async fn a_failed_smoke_test_puts_back_exactly_the_previous_traffic() {
        let before = map(&[("blue", 80), ("red", 20)]);
        let mut fake =
            Fake { traffic: before.clone(), mirror: map(&[("red", 0)]), fail_smoke_at: Some(2), ..Fake::default() };
        let (report, err) = run(&mut fake, &[10, 50, 100]).await.expect_err("rolled back");
        assert_eq!(err.kind(), ErrorKind::RolledBack);
        assert_eq!(fake.traffic, before);
        assert_eq!(fake.mirror, map(&[("red", 0)]));
        let report = report.expect("report");
        assert_eq!(report.outcome, "rolled-back");
        assert_eq!(report.stages.len(), 2);
        assert!(!report.stages[1].passed && report.stages[1].traffic.is_none());
        assert_eq!(report.final_traffic, before);
    }

    #[tokio::test]
    async fn a_failed_traffic_update_rolls_back_and_a_failed_rollback_says_so() {
        let mut fake = Fake { traffic: map(&[("blue", 100)]), fail_set_at: Some(2), ..Fake::default() };
        let (_, err) = run(&mut fake, &[10, 100]).await.expect_err("rolled back");
        assert!(matches!(err, RolloutError::RolledBack { stage: 100, .. }), "{err}");
        assert_eq!(fake.traffic, map(&[("blue", 100)]));

        let mut fake =
            Fake { traffic: map(&[("blue", 100)]), fail_smoke_at: Some(2), fail_set_at: Some(2), ..Fake::default() };
        let (_, err) = run(&mut fake, &[10, 100]).await.expect_err("rollback failed");
        assert_eq!(err.kind(), ErrorKind::Remote);
        assert!(err.to_string().contains("blue=100"), "{err}");
    }

    #[tokio::test]
    async fn ctrl_c_during_a_stage_rolls_back_and_during_provisioning_touches_nothing() {
        let before = map(&[("blue", 100)]);
        let mut fake = Fake { traffic: before.clone(), hang_smoke_at: Some(2), ..Fake::default() };
        let mut lines = Vec::new();
        let (report, err) =
            roll_out(&mut fake, "ep", "green", &[10, 50, 100], &mut |l| lines.push(l), std::pin::pin!(async {}))
                .await
                .expect_err("interrupted");
        // The interrupt is ready from the start; only a step that waits gives way to it.
        assert!(matches!(err, RolloutError::Interrupted { stage: 50, .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::Interrupted);
        assert_eq!(fake.traffic, before, "traffic back as it was");
        assert_eq!(report.expect("report").outcome, "rolled-back");

        struct Hanging(Fake);
        #[async_trait::async_trait(?Send)]
        impl RolloutTarget for Hanging {
            async fn traffic(&mut self) -> Result<(Traffic, Traffic), AzureMlError> {
                self.0.traffic().await
            }
            async fn deploy(&mut self) -> Result<(), AzureMlError> {
                std::future::pending().await
            }
            async fn smoke_test(&mut self) -> Result<String, String> {
                self.0.smoke_test().await
            }
            async fn set_traffic(&mut self, traffic: &Traffic, mirror: &Traffic) -> Result<(), AzureMlError> {
                self.0.set_traffic(traffic, mirror).await
            }
        }
        let mut hanging = Hanging(Fake { traffic: before.clone(), ..Fake::default() });
        let (report, err) =
            roll_out(&mut hanging, "ep", "green", &[10, 100], &mut |l| lines.push(l), std::pin::pin!(async {}))
                .await
                .expect_err("interrupted");
        assert!(matches!(err, RolloutError::InterruptedProvisioning { .. }), "{err}");
        assert!(report.is_none() && hanging.0.sets.is_empty());
    }

    #[tokio::test]
    async fn a_failed_deployment_touches_no_traffic() {
        let mut fake = Fake { traffic: map(&[("blue", 100)]), deploy_fails: true, ..Fake::default() };
        let (report, err) = run(&mut fake, &[10, 100]).await.expect_err("failed");
        assert_eq!(err.kind(), ErrorKind::DeploymentFailed);
        assert!(report.is_none() && fake.sets.is_empty() && fake.smokes == 0);
    }

    #[tokio::test]
    async fn live_deployments_and_first_deployments() {
        let mut fake = Fake { traffic: map(&[("blue", 50), ("green", 50)]), ..Fake::default() };
        let (_, err) = run(&mut fake, &[100]).await.expect_err("already live");
        assert_eq!(err.kind(), ErrorKind::Usage);
        let mut fake = Fake::default();
        let report = run(&mut fake, &[10, 50, 100]).await.expect("first deployment");
        assert_eq!(fake.sets, vec![map(&[("green", 100)])]);
        assert_eq!(report.stages.len(), 1);
    }

    #[test]
    fn stages_must_increase_and_end_at_100() {
        assert_eq!(parse_stages("10,50,100").expect("ok"), vec![10, 50, 100]);
        assert_eq!(parse_stages("100").expect("ok"), vec![100]);
        for (bad, why) in [
            ("10,5,100", "increase"),
            ("10,50", "last stage must be 100"),
            ("0,100", "from 1 to 100"),
            ("10,x,100", "\"x\""),
            ("", "\"\""),
        ] {
            let err = parse_stages(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
