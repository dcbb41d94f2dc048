//! Token scopes beyond `tools/call`: every resource, resource template, prompt and task is
//! reached through the tools it stands for, and a token sees or uses it only if it may call
//! one of them. So a token scoped to `get_job_status` reads `comfy://jobs/{id}` but not an
//! asset's bytes (`comfy://assets/{id}` needs `get_output` or `view_image`).

use crate::http::auth::Principal;

/// The tools whose scope covers a resource URI or URI template (any one suffices).
pub fn resource_tools(uri: &str) -> &'static [&'static str] {
    let rest = uri.strip_prefix(crate::resources::SCHEME).unwrap_or("");
    match rest.split('/').next().unwrap_or("") {
        "assets" => &["get_output", "view_image"],
        "jobs" => &["get_job_status", "wait_for_job"],
        "models" => &["list_models", "search_models"],
        "workflows" => &["get_template", "list_workflows"],
        _ => &[],
    }
}

/// The tools a prompt leads to (any one suffices).
pub fn prompt_tools(prompt: &str) -> &'static [&'static str] {
    match prompt {
        "generate_image" => &["generate_image", "run_workflow"],
        "fix_workflow" => &["validate_workflow"],
        "find_model" => &["search_models", "list_models"],
        _ => &[],
    }
}

/// Whether `principal` (none on stdio) may use something covered by `tools`. An URI or prompt
/// no tool covers is left to the caller: it does not exist.
pub fn allows(principal: Option<&Principal>, tools: &[&str]) -> bool {
    principal.is_none_or(|p| p.tools.is_none() || tools.iter().any(|t| p.may_call(t)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_job_status_token_reads_jobs_not_assets() {
        let p = Principal {
            name: "t".into(),
            tools: Some(Arc::new(vec!["get_job_status".into()])),
            admin: false,
            team: None,
        };
        assert!(allows(Some(&p), resource_tools("comfy://jobs/j1")));
        assert!(allows(Some(&p), resource_tools("comfy://jobs/{job_id}/preview")));
        assert!(!allows(Some(&p), resource_tools("comfy://assets/a1")));
        assert!(!allows(Some(&p), resource_tools("comfy://workflows/x")));
        assert!(!allows(Some(&p), prompt_tools("fix_workflow")));
        assert!(allows(None, resource_tools("comfy://assets/a1")));
        assert!(allows(Some(&Principal::anonymous()), resource_tools("comfy://assets/a1")));
    }
}
