//! Provisioning: ARM templates and parameters, what-if rendering, and running deployments and
//! deployment stacks.

pub mod bicep;
pub mod deploy;
pub mod error;
pub mod parameters;
pub mod prepare;
pub mod publish;
pub mod restore;
pub mod stack;
pub mod template;
pub mod whatif;

pub use error::InfraError;
