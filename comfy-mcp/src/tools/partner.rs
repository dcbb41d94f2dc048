//! partner_generate: a partner (paid API) node workflow from the live catalogue, priced from
//! its price badge, run only with spending consent.

use comfy_core::{PartnerQuote, PartnerRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::views::{JobView, job_view, wait_job};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "partner_generate",
            "Partner generate",
            "Generate with a partner (paid API) model: builds and prices the workflow (credits: $1 = 211); runs only if max_credits covers the price or spending is allowed. dry_run quotes.",
        ),
        partner_generate,
    );
}

/// Arguments of partner_generate.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PartnerArgs {
    /// The request.
    #[serde(flatten)]
    pub request: PartnerRequest,
    /// Wait for the result (up to the wait budget).
    #[serde(default)]
    pub wait: bool,
}

/// The answer of partner_generate.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PartnerView {
    /// The partner node, its workflow and price.
    pub quote: PartnerQuote,
    /// The job (absent for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobView>,
}

async fn partner_generate(ctx: CallCtx, args: PartnerArgs) -> ToolResult<PartnerView> {
    let generated = ctx.state.comfy.partner_generate(args.request).await?;
    let Some(job) = generated.job else {
        return Ok(PartnerView { quote: generated.quote, job: None }.into());
    };
    let view = if args.wait {
        wait_job(&ctx, &job).await?
    } else {
        job_view(&ctx, &job).await?.with_hint("queued: poll get_job_status with this job_id, then get_output")
    };
    let Output { value, content } = view.into_output();
    Ok(Output::from(PartnerView { quote: generated.quote, job: Some(value) }).with_content(content))
}
