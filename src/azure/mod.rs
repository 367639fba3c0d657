//! Azure service clients.

pub mod blob;
