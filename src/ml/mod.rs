//! Machine learning: the scikit-learn-identical split, ridge regression, metrics and the model artifact.

pub mod comoments;
pub mod metrics;
pub mod model;
pub mod mt19937;
pub mod params;
pub mod predict;
pub mod predictions;
pub mod ridge;
pub mod split;
pub mod stream;
pub mod train;
