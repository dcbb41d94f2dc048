//! Following a job: [`Job::follow`] turns the raw backend events into the few typed updates
//! every surface shows — queue position, progress (node id and class, step/max, a fraction
//! that never goes backwards), preview frames, and the finished result. The MCP server's
//! progress notifications, the CLI progress bar, the examples and the bindings all read this
//! one stream.

use super::job::{Job, JobResult, JobSubscription};
use crate::backend::JobEvent;
use crate::job::{JobFailure, JobStatus, PreviewFrame, Progress};

/// One step of a job's life, as [`Job::follow`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Waiting in the backend's queue (`position` 0 = next, when known).
    Queued {
        /// Place in the queue.
        position: Option<u32>,
    },
    /// Running: the node (id and class), its step and step count, and the overall fraction
    /// (never smaller than in an earlier update).
    Running(Progress),
    /// A new sampler preview image.
    Preview(PreviewFrame),
    /// The job finished (succeeded, failed or cancelled); always the last update.
    Finished(JobResult),
}

/// An [`Update`] as one flat record, `None` where the update does not say: what an event
/// object of a binding or a log line carries, built once here so no surface re-derives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateFields {
    /// `queued`, `running`, `preview` or `finished`.
    pub kind: &'static str,
    /// Overall completion in `0.0..=1.0` (running; 1.0 when finished successfully).
    pub fraction: Option<f64>,
    /// The node running, or that sent the preview.
    pub node_id: Option<String>,
    /// The running node's class.
    pub node_class: Option<String>,
    /// Sampler step (running, preview).
    pub step: Option<u64>,
    /// Sampler step count (running, preview).
    pub max_steps: Option<u64>,
    /// Nodes finished so far (running).
    pub nodes_done: Option<u32>,
    /// Nodes to run (running).
    pub nodes_total: Option<u32>,
    /// Place in the queue, 0 = next (queued, when known).
    pub queue_position: Option<u32>,
    /// The preview frame (preview).
    pub preview: Option<PreviewFrame>,
    /// The final status name: `succeeded`, `failed` or `cancelled` (finished).
    pub status: Option<&'static str>,
    /// Why it failed (finished with `failed`).
    pub failure: Option<JobFailure>,
}

impl From<Update> for UpdateFields {
    fn from(u: Update) -> Self {
        let mut f = UpdateFields { kind: u.kind(), fraction: u.fraction(), ..Default::default() };
        match u {
            Update::Queued { position } => f.queue_position = position,
            Update::Running(p) => {
                f.node_id = p.node_id;
                f.node_class = p.class_type;
                f.step = p.step;
                f.max_steps = p.max_steps;
                f.nodes_done = Some(p.nodes_done);
                f.nodes_total = Some(p.nodes_total);
            }
            Update::Preview(frame) => {
                f.node_id = frame.node_id.clone();
                f.step = frame.step;
                f.max_steps = frame.max_steps;
                f.preview = Some(frame);
            }
            Update::Finished(r) => {
                f.status = Some(r.status.name());
                if let JobStatus::Failed(failure) = r.status {
                    f.failure = Some(failure);
                }
            }
        }
        f
    }
}

impl Update {
    /// `queued`, `running`, `preview` or `finished`.
    pub fn kind(&self) -> &'static str {
        match self {
            Update::Queued { .. } => "queued",
            Update::Running(_) => "running",
            Update::Preview(_) => "preview",
            Update::Finished(_) => "finished",
        }
    }

    /// Overall completion in `0.0..=1.0`, where the update says (running, finished).
    pub fn fraction(&self) -> Option<f64> {
        match self {
            Update::Running(p) => Some(p.fraction.clamp(0.0, 1.0)),
            Update::Finished(r) if r.status == JobStatus::Succeeded => Some(1.0),
            _ => None,
        }
    }

    /// A one-line description for progress bars and notifications (`queued, position 2`,
    /// `running node 3 (KSampler), step 4/20, 2/7 nodes`, `succeeded`).
    pub fn describe(&self) -> String {
        match self {
            Update::Queued { position: Some(p) } => format!("queued, position {p}"),
            Update::Queued { position: None } => "queued".to_owned(),
            Update::Running(p) => describe_progress(p),
            Update::Preview(f) => format!("preview #{}", f.sequence),
            Update::Finished(r) => match &r.status {
                JobStatus::Failed(f) => match (&f.node_id, &f.class_type) {
                    (Some(n), Some(c)) => format!("failed at node {n} ({c}): {}", f.message),
                    (Some(n), None) => format!("failed at node {n}: {}", f.message),
                    _ => format!("failed: {}", f.message),
                },
                other => other.name().to_owned(),
            },
        }
    }
}

/// `running node 3 (KSampler), step 4/20, 2/7 nodes`.
pub fn describe_progress(p: &Progress) -> String {
    let mut m = String::from("running");
    if let Some(node) = &p.node_id {
        m.push_str(&format!(" node {node}"));
        if let Some(class) = &p.class_type {
            m.push_str(&format!(" ({class})"));
        }
    }
    if let (Some(s), Some(max)) = (p.step, p.max_steps) {
        m.push_str(&format!(", step {s}/{max}"));
    }
    if p.nodes_total > 0 {
        m.push_str(&format!(", {}/{} nodes", p.nodes_done, p.nodes_total));
    }
    m
}

/// The updates of one job; see [`Job::follow`]. Also a `futures::Stream` via
/// [`Follow::into_stream`].
#[derive(Debug)]
pub struct Follow {
    job: Job,
    events: JobSubscription,
    last: Option<Update>,
    last_preview: u64,
    fraction: f64,
    done: bool,
}

impl Job {
    /// The job's updates, from where it is now until it finishes: the first update is the
    /// current state, the last is always [`Update::Finished`] with every output recorded.
    /// Repeated states are skipped; a slow reader skips ahead instead of falling behind.
    pub fn follow(&self) -> Follow {
        Follow {
            job: self.clone(),
            events: self.subscribe(),
            last: None,
            last_preview: 0,
            fraction: 0.0,
            done: false,
        }
    }
}

impl Follow {
    /// The job being followed.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The next update, or `None` after [`Update::Finished`].
    pub async fn next(&mut self) -> Option<Update> {
        while !self.done {
            let event = self.events.next().await;
            let update = match event {
                None => Some(self.finished()),
                Some(JobEvent::Status(s)) if s.is_terminal() => Some(self.finished()),
                Some(JobEvent::Preview { .. }) => match self.job.latest_preview() {
                    Some(frame) if frame.sequence > self.last_preview => {
                        self.last_preview = frame.sequence;
                        Some(Update::Preview(frame))
                    }
                    _ => None,
                },
                Some(_) => self.current(),
            };
            if let Some(update) = update {
                return Some(update);
            }
        }
        None
    }

    /// The update the job's status stands for now, unless it repeats the last one.
    fn current(&mut self) -> Option<Update> {
        let update = match self.job.status() {
            JobStatus::Pending => return None,
            JobStatus::Queued { position } => Update::Queued { position },
            JobStatus::Running(mut p) => {
                // The tracker keeps it monotonic; a reconciliation that restarts a job must not
                // make a progress bar jump back either.
                p.fraction = p.fraction.clamp(self.fraction, 1.0);
                self.fraction = p.fraction;
                Update::Running(p)
            }
            _ => return Some(self.finished()),
        };
        if self.last.as_ref() == Some(&update) {
            return None;
        }
        self.last = Some(update.clone());
        Some(update)
    }

    fn finished(&mut self) -> Update {
        self.done = true;
        let snapshot = self.job.snapshot();
        Update::Finished(JobResult {
            job_id: self.job.id().clone(),
            status: snapshot.status,
            outputs: snapshot.outputs,
            assets: snapshot.assets,
        })
    }

    /// The updates as a `futures::Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Update> + Send {
        futures::stream::unfold(self, |mut f| async move { f.next().await.map(|u| (u, f)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobFailure, JobId};

    #[test]
    fn descriptions_name_the_node_class_and_steps() {
        let p = Progress {
            node_id: Some("3".into()),
            class_type: Some("KSampler".into()),
            step: Some(4),
            max_steps: Some(20),
            nodes_done: 2,
            nodes_total: 7,
            fraction: 0.4,
        };
        assert_eq!(Update::Running(p.clone()).describe(), "running node 3 (KSampler), step 4/20, 2/7 nodes");
        assert_eq!(Update::Running(p).fraction(), Some(0.4));
        assert_eq!(Update::Queued { position: Some(2) }.describe(), "queued, position 2");
        let failed = JobResult {
            job_id: JobId("j".into()),
            status: JobStatus::Failed(JobFailure {
                node_id: Some("5".into()),
                class_type: Some("VAEDecode".into()),
                message: "out of memory".into(),
                ..Default::default()
            }),
            outputs: vec![],
            assets: vec![],
        };
        assert_eq!(Update::Finished(failed).describe(), "failed at node 5 (VAEDecode): out of memory");
    }
}
