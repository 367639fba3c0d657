//! The `--settings` file of an online deployment: `environment_variables`, `request_settings`,
//! `liveness_probe` and `readiness_probe` with the keys of `az ml`'s deployment YAML, turned into
//! the ARM deployment properties (`environmentVariables`, `requestSettings`, `livenessProbe`,
//! `readinessProbe`, durations in ISO 8601).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error_kind::{ErrorKind, HasKind};

/// Why a settings file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsFileError {
    #[error("cannot read deployment settings {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("deployment settings {}:{}", path.display(), source)]
    Invalid { path: std::path::PathBuf, source: crate::decode::DecodeError },
    #[error("deployment settings {}: {field}: {message}", path.display())]
    Value { path: std::path::PathBuf, field: String, message: String },
}

impl HasKind for SettingsFileError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Input
    }
}

/// The file's content (YAML or JSON; every key optional).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSettings {
    #[serde(default)]
    pub environment_variables: BTreeMap<String, String>,
    pub request_settings: Option<RequestSettings>,
    pub liveness_probe: Option<ProbeSettings>,
    pub readiness_probe: Option<ProbeSettings>,
}

/// `request_settings` of `az ml online-deployment` YAML (milliseconds).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestSettings {
    pub request_timeout_ms: Option<u64>,
    pub max_concurrent_requests_per_instance: Option<u64>,
    pub max_queue_wait_ms: Option<u64>,
}

/// A probe of `az ml online-deployment` YAML (seconds).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    pub initial_delay: Option<u64>,
    pub period: Option<u64>,
    pub timeout: Option<u64>,
    pub success_threshold: Option<u64>,
    pub failure_threshold: Option<u64>,
}

/// Reads and checks a settings file.
pub fn load(path: &Path) -> Result<DeploymentSettings, SettingsFileError> {
    let bytes = std::fs::read(path).map_err(|source| SettingsFileError::Read { path: path.to_path_buf(), source })?;
    let invalid = |source| SettingsFileError::Invalid { path: path.to_path_buf(), source };
    let text = crate::decode::utf8(&bytes).map_err(invalid)?;
    // YAML is a superset of the JSON anyone writes here, so one parser reads both.
    let settings: DeploymentSettings = crate::decode::yaml::<Option<DeploymentSettings>>(text)
        .map_err(|e| invalid(crate::decode::DecodeError { message: format!(" {}", e.message), ..e }))?
        .unwrap_or_default();
    settings.check().map_err(|(field, message)| SettingsFileError::Value {
        path: path.to_path_buf(),
        field,
        message,
    })?;
    Ok(settings)
}

impl DeploymentSettings {
    /// Values the service would refuse, named by their field.
    fn check(&self) -> Result<(), (String, String)> {
        for name in self.environment_variables.keys() {
            if name.is_empty() || name.contains('=') {
                return Err((format!("environment_variables.{name}"), "not a valid variable name".to_string()));
            }
        }
        if let Some(r) = &self.request_settings {
            for (field, value) in [
                ("request_timeout_ms", r.request_timeout_ms),
                ("max_concurrent_requests_per_instance", r.max_concurrent_requests_per_instance),
            ] {
                if value == Some(0) {
                    return Err((format!("request_settings.{field}"), "must be at least 1".to_string()));
                }
            }
        }
        for (probe, settings) in [("liveness_probe", &self.liveness_probe), ("readiness_probe", &self.readiness_probe)]
        {
            let Some(p) = settings else { continue };
            for (field, value) in [
                ("period", p.period),
                ("timeout", p.timeout),
                ("success_threshold", p.success_threshold),
                ("failure_threshold", p.failure_threshold),
            ] {
                if value == Some(0) {
                    return Err((format!("{probe}.{field}"), "must be at least 1".to_string()));
                }
            }
        }
        Ok(())
    }

    /// The ARM deployment properties these settings set.
    pub fn properties(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if !self.environment_variables.is_empty() {
            out.insert("environmentVariables".to_string(), json!(self.environment_variables));
        }
        if let Some(r) = &self.request_settings {
            let mut settings = Map::new();
            if let Some(ms) = r.request_timeout_ms {
                settings.insert("requestTimeout".to_string(), json!(iso_millis(ms)));
            }
            if let Some(n) = r.max_concurrent_requests_per_instance {
                settings.insert("maxConcurrentRequestsPerInstance".to_string(), json!(n));
            }
            if let Some(ms) = r.max_queue_wait_ms {
                settings.insert("maxQueueWait".to_string(), json!(iso_millis(ms)));
            }
            out.insert("requestSettings".to_string(), Value::Object(settings));
        }
        for (key, probe) in [("livenessProbe", &self.liveness_probe), ("readinessProbe", &self.readiness_probe)] {
            if let Some(p) = probe {
                out.insert(key.to_string(), p.arm());
            }
        }
        out
    }
}

impl ProbeSettings {
    fn arm(&self) -> Value {
        let mut probe = Map::new();
        for (key, seconds) in [("initialDelay", self.initial_delay), ("period", self.period), ("timeout", self.timeout)]
        {
            if let Some(s) = seconds {
                probe.insert(key.to_string(), json!(format!("PT{s}S")));
            }
        }
        for (key, n) in [("successThreshold", self.success_threshold), ("failureThreshold", self.failure_threshold)] {
            if let Some(n) = n {
                probe.insert(key.to_string(), json!(n));
            }
        }
        Value::Object(probe)
    }
}

/// Milliseconds as an ISO 8601 duration (`PT5S`, `PT0.5S`), as the SDK sends them.
fn iso_millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        return format!("PT{}S", ms / 1000);
    }
    let fraction = format!("{:03}", ms % 1000);
    format!("PT{}.{}S", ms / 1000, fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(text: &str) -> Result<DeploymentSettings, SettingsFileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("settings.yml");
        std::fs::write(&path, text).expect("write");
        load(&path)
    }

    #[test]
    fn yaml_keys_become_arm_properties() {
        let settings = from(
            "environment_variables:\n  LOG_LEVEL: debug\nrequest_settings:\n  request_timeout_ms: 5000\n  max_concurrent_requests_per_instance: 2\n  max_queue_wait_ms: 500\nliveness_probe:\n  initial_delay: 10\n  period: 5\n  failure_threshold: 3\n",
        )
        .expect("settings");
        assert_eq!(
            Value::Object(settings.properties()),
            json!({
                "environmentVariables": {"LOG_LEVEL": "debug"},
                "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 2, "maxQueueWait": "PT0.5S"},
                "livenessProbe": {"initialDelay": "PT10S", "period": "PT5S", "failureThreshold": 3}
            })
        );
        let json = from(r#"{"readiness_probe": {"timeout": 2}}"#).expect("json");
        assert_eq!(Value::Object(json.properties()), json!({"readinessProbe": {"timeout": "PT2S"}}));
        assert_eq!(from("").expect("empty"), DeploymentSettings::default());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let err = from("request_settings:\n  request_timeout: 5\n").expect_err("unknown key").to_string();
        assert!(err.contains("settings.yml:2:") && err.contains("request_timeout"), "{err}");
        let err = from("liveness_probe:\n  period: soon\n").expect_err("bad type").to_string();
        assert!(err.contains("settings.yml:2:") && err.contains("liveness_probe.period"), "{err}");
        let err = from("readiness_probe:\n  failure_threshold: 0\n").expect_err("zero").to_string();
        assert!(err.contains("settings.yml: readiness_probe.failure_threshold: must be at least 1"), "{err}");
    }

    #[test]
    fn milliseconds_are_iso_durations() {
        assert_eq!(iso_millis(90_000), "PT90S");
        assert_eq!(iso_millis(500), "PT0.5S");
        assert_eq!(iso_millis(1250), "PT1.25S");
        assert_eq!(iso_millis(1001), "PT1.001S");
    }
}
