//! Infrastructure: turning infrastructure-as-code into what Azure Resource Manager accepts.

pub mod bicep;
