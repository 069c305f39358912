//! A classifier for other tools: a Hugging Face style model folder that transformers.js loads
//! as a text-classification model and onnxruntime runs (`folder.rs`), its graph in ONNX
//! (`onnx.rs`, over the schema's messages in `proto.rs`), and a zip of it for the page's
//! download (`zip.rs`).

pub mod folder;
pub mod onnx;
mod proto;
pub mod zip;

pub use folder::{ModelCard, export_folder};
