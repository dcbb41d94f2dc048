//! Feedback: submit_feedback, report_session_summary. Both need the user's consent; neither
//! sends prompts, paths or personal data.

use comfy_core::{Feedback, FeedbackReceipt};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CallCtx, Registry, ToolDef};
use crate::tools::ToolResult;

/// Arguments of `report_session_summary`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryArgs {
    /// true: the user agreed to send it.
    pub consent: bool,
}

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "submit_feedback",
            "Submit feedback",
            "Send the user's feedback on this server, only with their consent; no personal data.",
        ),
        submit_feedback,
    );
    r.add(
        ToolDef::write(
            "report_session_summary",
            "Report session summary",
            "Send this session's counts (jobs, errors, uptime), only with the user's consent.",
        ),
        report_session_summary,
    );
}

async fn submit_feedback(ctx: CallCtx, args: Feedback) -> ToolResult<FeedbackReceipt> {
    Ok(ctx.state.comfy.submit_feedback(args).await?.into())
}

async fn report_session_summary(ctx: CallCtx, args: SummaryArgs) -> ToolResult<FeedbackReceipt> {
    Ok(ctx.state.comfy.report_session_summary(args.consent).await?.into())
}
