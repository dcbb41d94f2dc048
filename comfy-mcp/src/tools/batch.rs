//! Batches: submit_batch, get_batch_status, get_batch_output, wait_for_batch.

use comfy_core::{BatchItems, BatchOutputs, BatchRequest, BatchStatus, Source};
use rmcp::model::ProgressNotificationParam;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::views::LinkedAsset;
use super::{CallCtx, Output, Registry, ToolDef, ToolResult, workflow_value};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "submit_batch",
            "Submit batch",
            "Run a workflow or template N times: exactly one of param_sets, overrides, seeds or count. Returns a batch_id.",
        ),
        submit_batch,
    );
    r.add(
        ToolDef::read(
            "get_batch_status",
            "Batch status",
            "A batch's state, counts and each item's job_id and state.",
        ),
        get_batch_status,
    );
    r.add(
        ToolDef::read(
            "get_batch_output",
            "Batch outputs",
            "A batch's outputs per item, with comfy://assets/ URIs.",
        ),
        get_batch_output,
    );
    r.add(
        ToolDef::read(
            "wait_for_batch",
            "Wait for batch",
            "Wait (with progress) until a batch finishes or timeout; returns its status.",
        ),
        wait_for_batch,
    );
}

/// Arguments of submit_batch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatchArgs {
    /// Workflow (API or editor format), or `template`.
    #[serde(default)]
    #[schemars(schema_with = "optional_workflow_schema")]
    pub workflow: Option<Value>,
    /// Or a template name.
    #[schemars(length(min = 1, max = 128))]
    pub template: Option<String>,
    /// Params for every item.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// One item per params set.
    #[schemars(length(min = 1, max = 1000))]
    pub param_sets: Option<Vec<Map<String, Value>>>,
    /// One item per overrides set.
    #[schemars(length(min = 1, max = 1000))]
    pub overrides: Option<Vec<Map<String, Value>>>,
    /// One item per seed.
    #[schemars(length(min = 1, max = 1000))]
    pub seeds: Option<Vec<u64>>,
    /// Items with random seeds.
    #[schemars(range(min = 1, max = 1000))]
    pub count: Option<u32>,
    /// Run every item on this configured backend (default: routing chooses per item).
    #[serde(default)]
    #[schemars(schema_with = "super::backend_schema")]
    pub backend: Option<String>,
    /// If the backend that accepted an item's job is lost with it, run it again on another
    /// configured backend instead of failing it (default false).
    #[serde(default)]
    pub resubmit_if_lost: bool,
}

fn optional_workflow_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["object", "string"], "maxProperties": 10000})
}

/// Arguments naming one batch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// A batch_id returned by submit_batch.
    #[schemars(length(min = 1, max = 100))]
    pub batch_id: String,
}

/// Arguments of wait_for_batch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitBatchArgs {
    /// A batch_id returned by submit_batch.
    #[schemars(length(min = 1, max = 100))]
    pub batch_id: String,
    /// Seconds to wait at most (default and cap: the server's wait budget).
    #[schemars(range(max = 86400))]
    pub timeout: Option<u32>,
}

/// A batch as the tools report it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchView {
    /// The batch.
    #[serde(flatten)]
    pub status: BatchStatus,
    /// What to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<BatchStatus> for BatchView {
    fn from(status: BatchStatus) -> Self {
        let hint = (!status.is_finished())
            .then(|| "still going: wait_for_batch or get_batch_status with this batch_id".to_owned())
            .or_else(|| Some("finished; get_batch_output lists the outputs".to_owned()));
        BatchView { status, hint }
    }
}

async fn submit_batch(ctx: CallCtx, args: SubmitBatchArgs) -> ToolResult<BatchView> {
    let source = match (args.workflow, args.template) {
        (Some(w), None) => {
            if !args.params.is_empty() {
                return Err(ToolError::invalid("params", "params go with a template, not a workflow"));
            }
            Source::Json(workflow_value(&w)?)
        }
        (None, Some(name)) => Source::named(name, args.params),
        _ => return Err(ToolError::invalid("workflow", "give exactly one of workflow or template")),
    };
    let items =
        BatchItems::one_of(args.param_sets, args.overrides, args.seeds, args.count.map(|n| n as usize))?;
    let place = comfy_core::Placement { backend: args.backend, resubmit_if_lost: args.resubmit_if_lost };
    let status = ctx.state.comfy.submit_batch_placed(BatchRequest { source, items }, place).await?;
    Ok(BatchView::from(status).into())
}

async fn get_batch_status(ctx: CallCtx, args: BatchArgs) -> ToolResult<BatchView> {
    Ok(BatchView::from(ctx.state.comfy.batch_status(&args.batch_id).await?).into())
}

async fn get_batch_output(ctx: CallCtx, args: BatchArgs) -> ToolResult<BatchOutputs<LinkedAsset>> {
    let outputs = ctx.state.comfy.batch_outputs(&args.batch_id).await?.map(LinkedAsset::from);
    let links = outputs.items.iter().flat_map(|i| i.outputs.iter()).filter_map(LinkedAsset::link).collect();
    Ok(Output::from(outputs).with_content(links))
}

async fn wait_for_batch(ctx: CallCtx, args: WaitBatchArgs) -> ToolResult<BatchView> {
    let budget = match args.timeout {
        Some(secs) => ctx.wait_budget.min(std::time::Duration::from_secs(secs.into())),
        None => ctx.wait_budget,
    };
    // Progress notifications (0–100, increasing) are sent from here, off the wait loop.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(f64, String)>();
    let notifier = {
        let (progress, peer) = (ctx.progress.clone(), ctx.peer.clone());
        tokio::spawn(async move {
            let mut last = -1.0_f64;
            while let Some((fraction, message)) = rx.recv().await {
                let (Some(token), Some(peer)) = (&progress, &peer) else { continue };
                let value = (fraction * 100.0).max(last + 0.001).min(100.0);
                if value <= last {
                    continue;
                }
                last = value;
                let param = ProgressNotificationParam::new(token.clone(), value)
                    .with_total(100.0)
                    .with_message(message);
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                }
            }
        })
    };
    let wait = ctx.state.comfy.wait_batch_with(&args.batch_id, budget, move |s| {
        let _ = tx.send((s.fraction, s.describe()));
    });
    let status = tokio::select! {
        biased;
        _ = ctx.ct.cancelled() => {
            notifier.abort();
            return Err(ToolError::new("cancelled", "the wait was cancelled; the batch goes on"));
        }
        status = wait => status?,
    };
    // Every notification is sent before the answer.
    let _ = notifier.await;
    Ok(BatchView::from(status).into())
}
