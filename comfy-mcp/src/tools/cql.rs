//! cql: typed structural queries over the node catalogue.

use comfy_core::catalog::query::QueryResult;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CallCtx, Registry, ToolDef, ToolResult};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "cql",
            "Catalogue query",
            "Query node classes: a source, then |-separated stages, e.g. `produces IMAGE | NOT deprecated | limit \
             10`, `upstream KSampler`, `path MODEL -> IMAGE depth 3`. Filters: produces/accepts T, category C, \
             name S, deprecated, experimental, api, output; AND, OR, NOT.",
        ),
        cql,
    );
}

/// Arguments of cql.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CqlArgs {
    /// The query.
    #[schemars(length(min = 1, max = 1000))]
    pub query: String,
}

async fn cql(ctx: CallCtx, args: CqlArgs) -> ToolResult<QueryResult> {
    Ok(ctx.state.comfy.cql(&args.query).await?.into())
}
