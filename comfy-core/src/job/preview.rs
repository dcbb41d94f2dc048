//! The live preview frame of a running job.

use bytes::Bytes;

/// The newest preview image a job sent while it ran (ComfyUI's sampler previews, with
/// `--preview-method` set). Only the latest frame is kept: it is a glimpse, not an output.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewFrame {
    /// The node that sent it, when the backend said.
    pub node_id: Option<String>,
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    /// The encoded image, as the backend sent it.
    pub data: Bytes,
    /// The sampler step the job was at when it arrived, if known.
    pub step: Option<u64>,
    /// The node's step count, if known.
    pub max_steps: Option<u64>,
    /// 1 for the job's first frame, counting up: a client can tell a new frame from one it has.
    pub sequence: u64,
}
