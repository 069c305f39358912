//! The BERT encoder (`bert.rs`, its CPU GELU in `gelu.rs`) and how its hidden states become
//! one vector per text (`pooling.rs`). Plain burn modules: the same code runs on any `Device`.

pub mod bert;
pub mod gelu;
pub mod pooling;

pub use bert::{BertModel, TokenBatch};
pub use pooling::Pooling;
