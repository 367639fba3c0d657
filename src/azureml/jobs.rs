//! Azure ML jobs: create (a synchronous `PUT`), read, cancel (a `POST` followed through its
//! `Location`), and follow a job's status to the end.
//!
//! Terminal states are Completed, Failed and Canceled. NotResponding, Paused and Unknown are
//! reported but followed further: the service may still recover, and cancelling is the user's call.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use azure_core::http::Method;
use serde::Serialize;
use serde_json::Value;

use super::steps::{self, StepReader, StepRun};
use super::{AzureMlClient, AzureMlError};
use crate::azure::lro::{PollOutcome, Poller};

/// How long step reads pause after one failed (the job itself is still read every interval).
const STEP_RETRY: Duration = Duration::from_secs(30);

/// How long the last read of the steps, once the job has ended, may take.
const STEP_FINAL_READ: Duration = Duration::from_secs(10);

/// How many job reads in a row may fail (after the pipeline's own retries) before giving up.
const MAX_CONSECUTIVE_FAILURES: u32 = 5;

/// Where a job ended up, or that it is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Active,
    Completed,
    Failed,
    Canceled,
}

impl JobState {
    pub fn of(status: &str) -> JobState {
        match status.to_ascii_lowercase().as_str() {
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "canceled" | "cancelled" => JobState::Canceled,
            _ => JobState::Active,
        }
    }
}

/// A job's identity and where to look at it.
#[derive(Debug, Clone, Serialize)]
pub struct JobFollow {
    pub name: String,
    pub status: String,
    pub state: JobState,
    pub studio_url: Option<String>,
    pub tracking_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// A pipeline job's steps, when they were followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRun>,
    /// The service's error, when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when following stopped (Ctrl-C) before the job finished.
    pub interrupted: bool,
}

impl JobFollow {
    pub fn from_resource(name: &str, job: &Value) -> JobFollow {
        let props = job.get("properties").cloned().unwrap_or_default();
        let status = props.get("status").and_then(Value::as_str).unwrap_or("Unknown").to_string();
        let endpoint = |service: &str| {
            props.pointer(&format!("/services/{service}/endpoint")).and_then(Value::as_str).map(str::to_string)
        };
        let error = props.get("error").or_else(|| props.pointer("/services/Studio/errorMessage")).map(|e| match e {
            Value::String(s) => s.clone(),
            other => serde_json::from_value::<crate::azure::ErrorDetail>(other.clone())
                .map(|d| d.render())
                .unwrap_or_else(|_| other.to_string()),
        });
        JobFollow {
            name: job.get("name").and_then(Value::as_str).unwrap_or(name).to_string(),
            state: JobState::of(&status),
            status,
            studio_url: endpoint("Studio"),
            tracking_uri: endpoint("Tracking"),
            experiment: props.get("experimentName").and_then(Value::as_str).map(str::to_string),
            steps: Vec::new(),
            error,
            interrupted: false,
        }
    }
}

/// Something to tell the person following a job.
pub enum FollowEvent<'a> {
    Status(&'a str),
    /// A step started or changed status.
    Step(&'a StepRun),
    Warning(String),
}

/// Creates (or replaces) a job; the service answers with its initial status.
pub async fn create_job(client: &AzureMlClient, name: &str, properties: Value) -> Result<Value, AzureMlError> {
    client.put(&format!("jobs/{name}"), &serde_json::json!({"properties": properties})).await
}

pub async fn get_job(client: &AzureMlClient, name: &str) -> Result<Value, AzureMlError> {
    client.get("job", name, &format!("jobs/{name}")).await
}

/// Asks the service to cancel a job and waits until the request is accepted (`Location` polled
/// to its end); the job itself then moves through CancelRequested to Canceled.
pub async fn cancel_job(client: &AzureMlClient, name: &str) -> Result<Value, AzureMlError> {
    let url = client.url(&format!("jobs/{name}/cancel"))?;
    let response = client.arm().send(Method::Post, url, None).await?;
    match response.status {
        200 | 204 => {}
        202 => {
            let mut poller = Poller::new(response, client.poll_interval());
            loop {
                match poller.poll(client.arm()).await? {
                    PollOutcome::Running { .. } => tokio::time::sleep(poller.delay()).await,
                    PollOutcome::Succeeded | PollOutcome::Canceled => break,
                    PollOutcome::Failed(error) => {
                        return Err(AzureMlError::OperationFailed {
                            what: format!("cancelling job {name}"),
                            error: error.map(Box::new),
                        });
                    }
                }
            }
        }
        404 => {
            return Err(AzureMlError::NotFound {
                kind: "job",
                name: name.to_string(),
                workspace: client.workspace().name.clone(),
                source: Some(response.into_error()),
            });
        }
        _ => return Err(response.into_error().into()),
    }
    get_job(client, name).await
}

/// Reads the job every `interval` until it ends or `interrupt` fires (then `interrupted` is set and
/// the job goes on). Failed reads (throttling and resets that outlast the pipeline's retries) are
/// warnings until too many come in a row. With `steps`, a pipeline job's step runs are read too, in
/// a task of their own so a slow step endpoint never delays reading the job, and their changes
/// reported; if they cannot be read, that is one warning and the job is followed on.
pub async fn follow_job(
    client: &AzureMlClient,
    name: &str,
    interval: Duration,
    mut steps: Option<&mut StepReader>,
    on_event: &mut dyn FnMut(FollowEvent<'_>),
    mut interrupt: Pin<&mut (dyn Future<Output = ()> + Send)>,
) -> Result<JobFollow, AzureMlError> {
    let mut failures = 0;
    let mut last: Option<JobFollow> = None;
    let mut step_watch = steps.as_deref().map(|reader| StepWatch::start(reader.clone(), name, interval));
    loop {
        let read = tokio::select! {
            read = get_job(client, name) => read,
            () = &mut interrupt => return Ok(interrupted(name, last, step_watch.map(StepWatch::into_seen))),
        };
        match read {
            Ok(job) => {
                failures = 0;
                let mut follow = JobFollow::from_resource(name, &job);
                if last.as_ref().is_none_or(|l| l.status != follow.status) {
                    on_event(FollowEvent::Status(&follow.status));
                }
                if let Some(watch) = step_watch.as_mut() {
                    watch.report(on_event);
                    if follow.state != JobState::Active {
                        // The last steps end with the job: read them once more, unless they are unreadable.
                        if let Some(reader) = steps.as_deref_mut() {
                            watch.finish(reader, on_event).await;
                        }
                    }
                    follow.steps.clone_from(&watch.seen);
                }
                if follow.state != JobState::Active {
                    return Ok(follow);
                }
                last = Some(follow);
            }
            Err(AzureMlError::Http(err)) if err.status.is_none_or(|s| s >= 500 || s == 429 || s == 408) => {
                failures += 1;
                if failures >= MAX_CONSECUTIVE_FAILURES {
                    return Err(AzureMlError::Http(err));
                }
                on_event(FollowEvent::Warning(format!(
                    "reading job {name} failed, still following: {}",
                    err.to_string().lines().next().unwrap_or_default()
                )));
            }
            Err(other) => return Err(other),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut interrupt => return Ok(interrupted(name, last, step_watch.map(StepWatch::into_seen))),
        }
    }
}

type StepRead = Result<Vec<StepRun>, crate::http::HttpError>;

/// Step reads running beside the job reads: a task reads the steps every interval (every
/// [`STEP_RETRY`] after a failure) and hands each result over; the task ends when this is dropped.
struct StepWatch {
    job: String,
    endpoint: String,
    results: tokio::sync::mpsc::UnboundedReceiver<StepRead>,
    task: tokio::task::JoinHandle<()>,
    seen: Vec<StepRun>,
    warned: bool,
    failing: bool,
}

impl StepWatch {
    fn start(mut reader: StepReader, job: &str, interval: Duration) -> StepWatch {
        let (tx, results) = tokio::sync::mpsc::unbounded_channel();
        let endpoint = reader.endpoint().to_string();
        let owned = job.to_string();
        let task = tokio::spawn(async move {
            loop {
                let read = reader.steps(&owned).await;
                let pause = if read.is_ok() { interval } else { STEP_RETRY };
                if tx.send(read).is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        });
        StepWatch { job: job.to_string(), endpoint, results, task, seen: Vec::new(), warned: false, failing: false }
    }

    /// Reports what the reads that came in since the last call changed.
    fn report(&mut self, on_event: &mut dyn FnMut(FollowEvent<'_>)) {
        while let Ok(read) = self.results.try_recv() {
            self.take(read, on_event);
        }
    }

    /// Stops the task and reads the steps one last time (bounded, and not when they were failing).
    async fn finish(&mut self, reader: &mut StepReader, on_event: &mut dyn FnMut(FollowEvent<'_>)) {
        self.task.abort();
        if self.failing {
            return;
        }
        match tokio::time::timeout(STEP_FINAL_READ, reader.steps(&self.job)).await {
            Ok(read) => self.take(read, on_event),
            Err(_) => tracing::debug!("last read of the steps of job {} timed out", self.job),
        }
    }

    fn take(&mut self, read: StepRead, on_event: &mut dyn FnMut(FollowEvent<'_>)) {
        match read {
            Ok(now) => {
                for step in steps::changed(&self.seen, &now) {
                    on_event(FollowEvent::Step(step));
                }
                self.seen = now;
                self.failing = false;
            }
            Err(err) => {
                if !self.warned {
                    on_event(FollowEvent::Warning(format!(
                        "cannot read the steps of job {} from {} (trying again every {}s): {}",
                        self.job,
                        self.endpoint,
                        STEP_RETRY.as_secs(),
                        err.to_string().lines().next().unwrap_or_default()
                    )));
                    self.warned = true;
                }
                self.failing = true;
            }
        }
    }

    fn into_seen(mut self) -> Vec<StepRun> {
        std::mem::take(&mut self.seen)
    }
}

impl Drop for StepWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn interrupted(name: &str, last: Option<JobFollow>, steps: Option<Vec<StepRun>>) -> JobFollow {
    let mut follow = last.unwrap_or(JobFollow {
        name: name.to_string(),
        status: "Unknown".to_string(),
        state: JobState::Active,
        studio_url: None,
        tracking_uri: None,
        experiment: None,
        steps: Vec::new(),
        error: None,
        interrupted: false,
    });
    follow.steps = steps.unwrap_or_default();
    follow.interrupted = true;
    follow
}

/// A job name as Azure ML makes them: a prefix and a random suffix (lower case, digits, `_`).
pub fn new_job_name(prefix: &str) -> String {
    let clean: String =
        prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}_{}", clean.trim_matches('_'), &suffix[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_names() {
        assert_eq!(JobState::of("Completed"), JobState::Completed);
        assert_eq!(JobState::of("NotResponding"), JobState::Active);
        assert_eq!(JobState::of("Canceled"), JobState::Canceled);
        let name = new_job_name("diabetes-train");
        assert!(name.starts_with("diabetes_train_") && name.len() == "diabetes_train_".len() + 10, "{name}");
        let job = serde_json::json!({"name": "j", "properties": {"status": "Failed", "error": {"code": "UserError", "message": "exit 7"},
            "services": {"Studio": {"endpoint": "https://ml.azure.com/runs/j"}}}});
        let f = JobFollow::from_resource("j", &job);
        assert_eq!(f.state, JobState::Failed);
        assert_eq!(f.studio_url.as_deref(), Some("https://ml.azure.com/runs/j"));
        assert!(f.error.as_deref().is_some_and(|e| e.contains("exit 7")));
    }
}
