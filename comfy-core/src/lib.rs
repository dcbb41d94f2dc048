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
//! - [`Comfy`]: the client — *prepare* ([`Comfy::prepare`], [`Comfy::check`]), *run*
//!   ([`Comfy::run`], [`Comfy::submit`]), *follow* ([`Job::follow`]), *report*
//!   ([`Comfy::report`]) and assets, over any [`backend::Backend`].
//! - [`Error`]: the one error type, with stable codes.
//!
//! Run a workflow (API or editor format) and follow it:
//!
//! ```no_run
//! use std::sync::Arc;
//! use comfy_core::{Comfy, Source, Update, backend::local::LocalComfyUi};
//!
//! # async fn demo(workflow: serde_json::Value) -> Result<(), comfy_core::Error> {
//! let comfy = Comfy::builder(Arc::new(LocalComfyUi::builder("http://127.0.0.1:8188").build()?)).build()?;
//! let job = comfy.submit(comfy.prepare(Source::Json(workflow)).await?.into_request()).await?;
//! let mut updates = job.follow();
//! while let Some(update) = updates.next().await {
//!     if let Update::Finished(result) = update {
//!         comfy.save_assets(&result.assets, "outputs").await?;
//!     }
//! }
//! # Ok(()) }
//! ```
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

// The crate README's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod audit;
pub mod backend;
mod caller;
pub mod catalog;
mod client;
pub mod connect;
mod describe;
mod error;
pub mod feedback;
pub mod gallery;
pub mod job;
pub mod json;
pub mod metrics;
pub mod net;
pub mod partner;
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

pub use caller::Caller;
pub use catalog::Catalog;
pub use client::{
    BackendError, BackendReadiness, BatchCounts, BatchItemOutputs, BatchItemState, BatchItemStatus,
    BatchItems, BatchOutputs, BatchRequest, BatchState, BatchStatus, ClientOptions, Comfy, ComfyBuilder,
    DefaultsLayer, DefaultsSet, FetchedAsset, Follow, Job, JobResult, JobSnapshot, JobSubscription,
    MAX_BATCH_ITEMS, ModelHit, Origin, Placement, PublishOptions, PublishedAsset, Readiness, Regeneration,
    ReuseKind, Reused, ReusedFrom, ServerInfo, Source, Submission, SubmitOptions, SubmittedRequest, Update,
    UpdateFields, Waited, describe_progress, override_workflow, rerender, rerender_request,
};
pub use connect::{BackendConfig, BackendKind, ClientConfig, StoreConfig};
pub use error::{Error, Result};
pub use feedback::{Feedback, FeedbackReceipt, SessionSummary};
pub use partner::{MediaType, PartnerGenerated, PartnerQuote, PartnerRequest, Price};
pub use prepare::{Checked, Prepared};
pub use report::{AssetSummary, JobReport, JobState, PreviewInfo};
pub use secret::Secret;
pub use suggest::{closest as suggest_closest, did_you_mean};
pub use workflow::{Input, Link, Node, NodeId, Workflow};
