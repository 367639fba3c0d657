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
mod progress;
mod reference;
mod types;
mod upload;

pub use auth::{ACR_TOKEN_USERNAME, Challenge, Credentials};
pub use client::{OciClient, OciClientOptions};
pub use digest::Digest;
pub use error::OciError;
pub use image::{Image, PushReport, pull, push};
pub use progress::{NoProgress, TransferProgress, short};
pub use reference::Reference;
pub use types::*;
