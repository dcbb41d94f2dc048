//! # comfy-node
//!
//! The Node.js module of comfy-rs (npm package `comfy-rs`), built with napi-rs. This crate is
//! the native half: thin classes over [`comfy_core`] — each method clones what it needs, calls
//! one core function on napi's tokio runtime (so the JavaScript thread never waits on I/O) and
//! maps the answer. Errors are mapped in one place ([`error`]). The JavaScript half
//! (`index.js`, `index.d.ts`) adds async iterators, `AbortSignal` handling and the
//! `ComfyError` classes.
//!
//! | module | JavaScript |
//! | --- | --- |
//! | [`client`] | `NativeClient` (wrapped by `ComfyClient`) |
//! | [`job`] | `NativeJob`, `NativeEvents` (wrapped by `Job`, `job.events()`) |
//! | [`workflow`] | `Workflow`, `Catalog`, `uiToApi`, `apiToUi` |
//! | [`mcp`] | `NativeMcpServer` (from `serveMcp`) |
//! | [`partner`] | `NativePartnerRun` (from `partnerGenerate`) |
//! | [`abort`] | `AbortToken` (made from an `AbortSignal`) |
//! | [`types`] | the plain objects (TypeScript interfaces in `native.d.ts`) |

#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(missing_docs)]

pub mod abort;
pub mod client;
pub mod error;
pub mod job;
pub mod mcp;
pub mod partner;
pub mod source;
pub mod types;
pub mod workflow;
