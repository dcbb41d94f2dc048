//! Where a job came from, beyond its graph.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a job came from, beyond its graph: the template and parameters it was rendered from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Provenance {
    /// Template name, when the workflow was rendered from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The rendered parameter values (including drawn seeds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Owner or session tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}
