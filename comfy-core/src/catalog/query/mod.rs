//! CQL: typed structural queries over the node catalogue.
//!
//! The catalogue is a typed graph: a class turns the link types of its inputs into the types of
//! its outputs. A query names a source — every class (`all`, or just a filter), the classes
//! `upstream`/`downstream` of one class, or the typed `path`s from one type to another — then
//! `|`-separated stages: boolean filters, `sort`, `limit`:
//!
//! ```text
//! produces IMAGE | NOT deprecated | sort connections | limit 10
//! (produces VIDEO OR produces LATENT) AND NOT api
//! accepts IMAGE AND category image | sort name
//! upstream KSampler | NOT deprecated
//! path MODEL -> IMAGE depth 4 | NOT api | limit 5
//! ```
//!
//! Types are matched case-insensitively and must exist in the catalogue; `*` (any) links are
//! not followed. A path step takes the current type on one of its link inputs and is kept only
//! when every other required link input of its class has some producer in the catalogue. Bad
//! queries are [`Error::InvalidQuery`](crate::Error::InvalidQuery) with the column and what
//! was expected there. See [`parse`] for the grammar.

mod engine;
pub mod parse;
#[cfg(test)]
mod tests;

use serde::Serialize;

use super::Catalog;
use crate::error::Result;

/// One class in a query's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ClassHit {
    /// The class name (`class_type`).
    pub class_type: String,
    /// Its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Its category.
    pub category: String,
    /// Its output link types.
    pub produces: Vec<String>,
    /// The link types of its required inputs.
    pub accepts: Vec<String>,
    /// How many other classes it can connect to, either way.
    pub connections: usize,
    /// For `upstream`/`downstream`: the types that link it to the named class.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// A partner (API) node: running it costs credits.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub api_node: bool,
    /// Deprecated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// One step of a typed path.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PathStep {
    /// The class.
    pub class_type: String,
    /// The input that takes the incoming type.
    pub input: String,
    /// The incoming type.
    pub from: String,
    /// The output type this step leads to.
    pub output: String,
}

/// A chain of classes from one type to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TypePath {
    /// Number of steps.
    pub length: usize,
    /// The steps, in order.
    pub steps: Vec<PathStep>,
}

/// The answer of a query: classes, or paths for a `path` query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct QueryResult {
    /// How many matched before `limit` (50 classes or 10 paths are listed without one).
    pub total: usize,
    /// The path search stopped early (too many partial paths); shorter depth or more specific
    /// types give complete answers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The classes, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassHit>,
    /// The paths, shortest first unless sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<TypePath>,
}

impl Catalog {
    /// Runs a CQL query (see the [module docs](self)) over this catalogue.
    pub fn query(&self, text: &str) -> Result<QueryResult> {
        let query = parse::parse(text)?;
        engine::run(&engine::Graph::new(self), &query)
    }
}
