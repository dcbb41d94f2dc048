//! Assets: list_assets, get_asset_metadata.

use comfy_core::job::JobId;
use comfy_core::store::{AssetId, AssetQuery, Millis};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::views::{AssetView, asset_link};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_assets",
            "List assets",
            "Recorded outputs, newest first; filter by job_id, workflow (template name) or since (ISO 8601 \
             time or ms since the epoch).",
        ),
        list_assets,
    );
    r.add(
        ToolDef::read(
            "get_asset_metadata",
            "Asset metadata",
            "Everything recorded about one asset: job, node, type, size, dimensions, SHA-256, template and \
             parameters.",
        ),
        get_asset_metadata,
    );
}

/// Arguments of list_assets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAssetsArgs {
    /// At most this many (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// Only this job's outputs.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub job_id: Option<String>,
    /// Only outputs of this workflow (template name).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub workflow: Option<String>,
    /// Only outputs recorded at or after this time: ISO 8601 (`2026-11-05T12:00:00Z`) or
    /// milliseconds since the Unix epoch.
    #[serde(default)]
    #[schemars(schema_with = "since_schema")]
    pub since: Option<Value>,
}

fn since_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "integer", "null"],
        "minimum": 0,
        "maxLength": 40,
        "description": "ISO 8601 time (2026-11-05T12:00:00Z) or milliseconds since the Unix epoch."
    })
}

/// The answer of list_assets.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetList {
    /// The assets, newest first.
    pub assets: Vec<AssetView>,
}

async fn list_assets(ctx: CallCtx, args: ListAssetsArgs) -> ToolResult<AssetList> {
    let since = match &args.since {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(parse_time(s).ok_or_else(|| {
            ToolError::invalid("since", format!("{s:?} is not a time"))
                .with_expected("ISO 8601 like 2026-11-05T12:00:00Z, or milliseconds since the Unix epoch")
        })?),
        Some(_) => return Err(ToolError::invalid("since", "since must be a string or an integer")),
    };
    let query = AssetQuery {
        limit: args.limit.unwrap_or(20) as usize,
        job_id: args.job_id.map(JobId),
        template: args.workflow,
        since,
        owner: None,
    };
    let assets = ctx.state.comfy.assets(&query).await?;
    let links = assets.iter().filter_map(asset_link).collect();
    Ok(Output::from(AssetList { assets: assets.iter().map(AssetView::from).collect() }).with_content(links))
}

/// Arguments of get_asset_metadata.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetArgs {
    /// An asset_id from get_output or list_assets.
    #[schemars(length(min = 1, max = 200))]
    pub asset_id: String,
}

/// The answer of get_asset_metadata.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetMetadata {
    /// The asset.
    #[serde(flatten)]
    pub asset: AssetView,
    /// Output key of the node (`images`, `audio`, ...).
    pub key: String,
    /// Position under that key.
    pub index: u32,
    /// Sub-folder in ComfyUI's output folder, for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subfolder: Option<String>,
    /// SHA-256 of the bytes, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Canonical hash of the job's workflow.
    pub workflow_hash: String,
    /// Template parameters the job was rendered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

async fn get_asset_metadata(ctx: CallCtx, args: AssetArgs) -> ToolResult<AssetMetadata> {
    let asset = ctx.state.comfy.asset(&AssetId(args.asset_id)).await?;
    let link = asset_link(&asset);
    let meta = AssetMetadata {
        asset: AssetView::from(&asset),
        key: asset.key.clone(),
        index: asset.index,
        subfolder: asset.file.as_ref().map(|f| f.subfolder.clone()).filter(|s| !s.is_empty()),
        sha256: asset.sha256.clone(),
        workflow_hash: asset.workflow_hash.clone(),
        params: asset.provenance.params.clone(),
    };
    Ok(Output::from(meta).with_content(link.into_iter().collect()))
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM`, into ms since the epoch.
pub fn parse_time(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let num = |t: &str| -> Option<i64> {
        if t.bytes().all(|b| b.is_ascii_digit()) { t.parse().ok() } else { None }
    };
    let (date, rest) = if s.len() >= 10 { s.split_at(10) } else { return None };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = 0i64;
    let mut offset = 0i64;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
            Some(p) => rest.split_at(p),
            None => (rest, ""),
        };
        let time = time.split('.').next()?;
        let mut t = time.split(':');
        let h = num(t.next()?)?;
        let mi = num(t.next()?)?;
        let se = match t.next() {
            Some(x) => num(x)?,
            None => 0,
        };
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + se;
        if let Some(z) = zone.strip_prefix(['+', '-']) {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let mut zp = z.split(':');
            let zh = num(zp.next()?)?;
            let zm = zp.next().map_or(Some(0), num)?;
            offset = sign * (zh * 3600 + zm * 60);
        } else if !zone.is_empty() && !zone.eq_ignore_ascii_case("z") {
            return None;
        }
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + secs - offset) * 1000)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_time("2026-11-05T12:00:00Z"), Some(1_793_880_000_000));
        assert_eq!(parse_time("2026-11-05T13:00:00+01:00"), Some(1_793_880_000_000));
        assert_eq!(parse_time("2026-11-05T12:00:00.123Z"), Some(1_793_880_000_000));
        assert_eq!(parse_time("12345"), Some(12345));
        for bad in ["", "yesterday", "2026-13-01", "2026-11-05T25:00", "2026-11-05Tx", "2026-11-05T12:00Q"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
