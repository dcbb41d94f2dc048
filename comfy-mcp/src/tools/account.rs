//! The backend and the account: get_server_info, get_billing_status.

use comfy_core::ServerInfo;
use comfy_core::backend::BillingStatus;

use super::shared::NoArgs;
use super::{CallCtx, Registry, ToolDef, ToolResult};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "get_server_info",
            "Server info",
            "The backend: kind, versions, reachability, credential state, capabilities.",
        ),
        get_server_info,
    );
    r.add(
        ToolDef::read(
            "get_billing_status",
            "Billing status",
            "Account balance (USD, credits) and subscription.",
        ),
        get_billing_status,
    );
}

async fn get_server_info(ctx: CallCtx, _: NoArgs) -> ToolResult<ServerInfo> {
    let mut info = ctx.state.comfy.server_info().await?;
    info.unreachable = info.unreachable.map(|m| crate::error::scrub_paths(&m));
    Ok(info.into())
}

async fn get_billing_status(ctx: CallCtx, _: NoArgs) -> ToolResult<BillingStatus> {
    Ok(ctx.state.comfy.billing_status().await?.into())
}
