//! Tool profiles: which tools a server lists before `[tools] allow/deny` and token scopes
//! narrow the set further.
//!
//! `full` (the default) lists every tool of the backend and every workflow template tool.
//! `minimal` lists a handful of general tools ([`MINIMAL_TOOLS`]) that still cover the whole
//! job — find a template, run it or a raw workflow, bring in an input image, wait for the job
//! and its outputs — in under 2 KB of `tools/list`, for agents with small context windows.

use serde::{Deserialize, Serialize};

use super::compact;

/// The server instructions of the `minimal` profile.
const MINIMAL_INSTRUCTIONS: &str = "Runs ComfyUI workflows. list_workflows shows the templates and their \
parameters; run_workflow runs one by name, submit_workflow runs any workflow graph. upload_file brings in \
an input image (its input_name goes into a LoadImage input). A job still running returns a job_id: \
wait_for_job returns its outputs, each a resource (comfy://assets/<id>) with the bytes.";

/// The server instructions for `profile`: `full` is the text of the whole tool set, then what
/// every profile says once about the shared argument names.
pub fn instructions(profile: ToolProfile, full: &str) -> String {
    let head = match profile {
        ToolProfile::Full => full,
        ToolProfile::Minimal => MINIMAL_INSTRUCTIONS,
    };
    format!("{head} {}", compact::SHARED_ARGS_TEXT)
}

/// The tools of the `minimal` profile, in no particular order (the registry's order is kept).
pub const MINIMAL_TOOLS: &[&str] =
    &["list_workflows", "run_workflow", "submit_workflow", "wait_for_job", "upload_file"];

/// Which tools are listed at all (`--tool-profile`, `COMFY_MCP_TOOL_PROFILE`, `tool_profile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ToolProfile {
    /// Every tool of the backend and one tool per workflow template.
    #[default]
    Full,
    /// A handful of general tools (see [`MINIMAL_TOOLS`]); no per-template tools.
    Minimal,
}

impl ToolProfile {
    /// Whether the profile lists the tool `name` (before allow/deny and token scopes).
    pub fn includes(self, name: &str) -> bool {
        match self {
            ToolProfile::Full => true,
            ToolProfile::Minimal => MINIMAL_TOOLS.contains(&name),
        }
    }

    /// The profile's name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolProfile::Full => "full",
            ToolProfile::Minimal => "minimal",
        }
    }
}

impl std::str::FromStr for ToolProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(ToolProfile::Full),
            "minimal" => Ok(ToolProfile::Minimal),
            other => Err(format!("unknown tool profile {other:?} (expected \"full\" or \"minimal\")")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_lists_only_its_tools_and_full_everything() {
        assert!(ToolProfile::Minimal.includes("run_workflow"));
        assert!(!ToolProfile::Minimal.includes("cancel_job"));
        assert!(!ToolProfile::Minimal.includes("generate_image"));
        assert!(ToolProfile::Full.includes("cancel_job") && ToolProfile::Full.includes("generate_image"));
        assert_eq!("Minimal".parse::<ToolProfile>(), Ok(ToolProfile::Minimal));
        let e = "small".parse::<ToolProfile>().unwrap_err();
        assert!(e.contains("\"small\"") && e.contains("minimal"), "{e}");
    }
}
