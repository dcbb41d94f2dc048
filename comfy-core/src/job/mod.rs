//! Jobs: lifecycle states, progress, failures and outputs.

mod output;
mod preview;
mod provenance;
mod status;

pub use output::{
    FileRef, FolderType, JobOutput, MediaKind, OutputItem, parse_history_outputs, parse_node_output,
};
pub use preview::PreviewFrame;
pub use provenance::Provenance;
pub use status::{JobFailure, JobId, JobStatus, Progress};
