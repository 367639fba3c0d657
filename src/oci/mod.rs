//! OCI images and the registries that hold them: references, digests, the image-spec documents,
//! the image layout on disk, and a distribution-spec client (push, pull, authentication including
//! Azure Container Registry's Entra ID exchange). Knows nothing of models: `image` builds on it,
//! and Bicep's `br:` module restore can too.

mod auth;
mod client;
mod digest;
mod error;
mod image;
pub mod layout;
mod reference;
mod types;

pub use auth::{ACR_TOKEN_USERNAME, Challenge, Credentials};
pub use client::{NoProgress, OciClient, OciClientOptions, TransferProgress, short};
pub use digest::Digest;
pub use error::OciError;
pub use image::{Image, PushReport, pull, push};
pub use reference::Reference;
pub use types::*;
