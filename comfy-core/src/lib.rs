//! # comfy-core
//!
//! The core of comfy-rs: a faithful model of ComfyUI workflows and everything around them.
//!
//! - [`workflow`]: the API ("prompt") format — parse without loss, graph operations, hashing.
//! - [`catalog`]: the node catalogue from `GET /object_info`, with ranked search.
//! - [`validate`]: check a workflow against a catalogue, every problem at once, the way ComfyUI would.
//! - [`template`]: workflows with parameters — placeholders, schemas, safe rendering.
//! - [`gallery`]: the official workflow templates index, with ranked search.
//! - [`ui`]: editor ("save" format) workflows — conversion to the API format exactly as the
//!   official editor does it, and back.
//! - [`Error`]: the one error type, with stable codes.
//!
//! ```
//! use comfy_core::{Catalog, Workflow, validate::validate};
//!
//! let catalog = Catalog::from_json_str(r#"{
//!   "EmptyImage": {"input": {"required": {"width": ["INT", {"min": 1, "max": 16384}]}},
//!                  "output": ["IMAGE"], "output_node": false},
//!   "SaveImage":  {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true}
//! }"#)?;
//! let workflow = Workflow::from_json_str(r#"{
//!   "1": {"class_type": "EmptyImage", "inputs": {"width": 0}},
//!   "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}
//! }"#)?;
//! let report = validate(&workflow, &catalog);
//! assert!(!report.is_ok());
//! assert_eq!(report.errors().next().unwrap().input.as_deref(), Some("width"));
//! # Ok::<(), comfy_core::Error>(())
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod catalog;
mod client;
mod error;
pub mod gallery;
pub mod job;
pub mod json;
pub mod paths;
pub mod prepare;
pub mod preview;
pub mod publish;
pub mod report;
mod secret;
pub mod store;
mod suggest;
pub mod template;
pub mod ui;
pub mod validate;
pub mod workflow;

pub use catalog::Catalog;
pub use client::{
    ClientOptions, Comfy, ComfyBuilder, FetchedAsset, Follow, Job, ModelHit, JobResult, JobSnapshot, JobSubscription,
    Origin, Source, Update, Waited, describe_progress, override_workflow, rerender, rerender_request,
};
pub use prepare::{Checked, Prepared};
pub use report::{AssetSummary, JobReport, JobState, PreviewInfo};
pub use error::{Error, Result};
pub use secret::Secret;
pub use suggest::{closest as suggest_closest, did_you_mean};
pub use workflow::{Input, Link, Node, NodeId, Workflow};
