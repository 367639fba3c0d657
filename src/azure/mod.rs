//! Azure: clouds, credentials and the Azure Resource Manager client shared by every command that
//! talks to Azure.

pub mod arm;
pub mod assertion;
pub mod blob;
pub mod blob_transfer;
pub mod cloud;
pub mod credential;
pub mod deployments;
pub mod error;
pub mod lro;
pub mod stacks;
pub mod template_specs;

pub use crate::secret::Secret;
pub use arm::{ArmClient, ArmClientOptions, ArmResponse};
pub use cloud::{CloudEndpoints, CloudName};
pub use credential::{AuthConfig, AuthError, AuthKind, AzureCredential};
pub use error::{ErrorDetail, HttpError};
