//! A deployment checked before any request: the template loaded and compiled, its scope against
//! the one asked for, parameters resolved against its declarations, names checked, and the
//! request body built.

use std::path::Path;

use serde_json::Value;

use super::deploy::{Mode, request_body};
use super::error::InfraError;
use super::parameters::{self, ParameterSource};
use super::template::{self, BicepCompiler, TemplateScope};
use crate::azure::deployments::{DeploymentScope, check_name};
use crate::error_kind::UsageError;

/// What a deployment is made of, as the command line gave it.
#[derive(Debug, Clone)]
pub struct PrepareOptions<'a> {
    pub template: &'a Path,
    pub compiler: BicepCompiler,
    /// The scope asked for; `None` takes the template's.
    pub scope: Option<TemplateScope>,
    pub subscription: String,
    pub resource_group: Option<&'a str>,
    pub location: Option<&'a str>,
    pub mode: Mode,
    /// `--parameters` arguments: `@file`, `KEY=VALUE` or inline JSON.
    pub parameters: &'a [String],
    /// The deployment's name [default: the template's file stem].
    pub name: Option<&'a str>,
}

/// A deployment checked locally and ready to send.
#[derive(Debug)]
pub struct Prepared {
    pub scope: DeploymentScope,
    pub name: String,
    pub body: Value,
    /// What the native Bicep compiler warned about on the way.
    pub warnings: Vec<crate::infra::bicep::Warning>,
}

/// Why a deployment could not be prepared: a bad input (its kind says which) or a wrong flag.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Infra(#[from] InfraError),
    #[error(transparent)]
    Usage(#[from] UsageError),
}

impl crate::error_kind::HasKind for PrepareError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            PrepareError::Infra(e) => e.kind(),
            PrepareError::Usage(e) => e.kind(),
        }
    }
}

/// Everything that can be checked without a request.
pub fn prepare(options: &PrepareOptions<'_>) -> Result<Prepared, PrepareError> {
    let usage = |message: &str| PrepareError::Usage(UsageError(message.to_string()));
    let template = template::load(options.template, options.compiler)?;
    let requested = options.scope.unwrap_or(template.scope);
    if requested != template.scope {
        return Err(InfraError::ScopeMismatch {
            path: options.template.to_path_buf(),
            template: template.scope.as_str(),
            requested: requested.as_str(),
            hint: if template.scope == TemplateScope::Subscription {
                " (use --scope subscription --location LOC)"
            } else {
                ""
            },
        }
        .into());
    }
    let subscription = options.subscription.clone();
    let scope = match requested {
        TemplateScope::ResourceGroup => {
            let rg =
                options.resource_group.ok_or_else(|| usage("a resource-group deployment needs --resource-group"))?;
            check_name("resource group", rg, 90).map_err(UsageError)?;
            DeploymentScope::ResourceGroup { subscription, resource_group: rg.to_string() }
        }
        TemplateScope::Subscription => {
            if options.location.is_none() {
                return Err(usage("a subscription deployment needs --location"));
            }
            DeploymentScope::Subscription { subscription }
        }
        other => {
            return Err(usage(&format!(
                "{} deployments are not supported; use resource-group or subscription templates",
                other.as_str()
            )));
        }
    };
    if options.mode == Mode::Complete && matches!(scope, DeploymentScope::Subscription { .. }) {
        return Err(usage("--mode Complete is only valid at resource-group scope"));
    }
    let sources = options.parameters.iter().map(|a| ParameterSource::parse(a)).collect::<Result<Vec<_>, _>>()?;
    let parameters = parameters::resolve(&template, &sources)?;
    let name = match options.name {
        Some(name) => name.to_string(),
        None => default_name(options.template),
    };
    check_name("deployment", &name, 64).map_err(UsageError)?;
    let location = match scope {
        DeploymentScope::Subscription { .. } => options.location,
        DeploymentScope::ResourceGroup { .. } => None,
    };
    let body = request_body(&template, parameters, options.mode, location);
    Ok(Prepared { scope, name, body, warnings: template.warnings })
}

fn default_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "deployment".to_string())
}
