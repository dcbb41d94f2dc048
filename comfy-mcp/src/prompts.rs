//! Prompts for common tasks.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

use crate::error::ToolError;

/// The prompts offered.
pub fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "generate_image",
            Some("Generate an image from a description, then show where the result is."),
            Some(vec![
                PromptArgument::new("subject").with_description("What the image shows").with_required(true),
                PromptArgument::new("style")
                    .with_description("Style, e.g. photo, watercolor")
                    .with_required(false),
            ]),
        ),
        Prompt::new(
            "fix_workflow",
            Some("Validate an API-format workflow and fix every problem found."),
            Some(vec![
                PromptArgument::new("workflow").with_description("The workflow JSON").with_required(true),
            ]),
        ),
        Prompt::new(
            "find_model",
            Some("Find an installed model file to use in a workflow."),
            Some(vec![
                PromptArgument::new("query")
                    .with_description("Words in the model's name")
                    .with_required(true),
                PromptArgument::new("folder")
                    .with_description("checkpoints, loras, vae, ...")
                    .with_required(false),
            ]),
        ),
    ]
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str, required: bool) -> Result<Option<&'a str>, ToolError> {
    match args.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(_)) if !required => Ok(None),
        _ => Err(ToolError::invalid(
            name,
            format!("argument {name:?} is required and must be a non-empty string"),
        )),
    }
}

/// Renders one prompt.
pub fn get(name: &str, args: &Map<String, Value>) -> Result<GetPromptResult, ToolError> {
    let text = match name {
        "generate_image" => {
            let subject = arg(args, "subject", true)?.unwrap_or_default();
            let style = arg(args, "style", false)?.map(|s| format!(" in the style: {s}")).unwrap_or_default();
            format!(
                "Generate an image of: {subject}{style}.\n\
                 1. If you do not know a checkpoint, call list_models with folder \"checkpoints\".\n\
                 2. Call the generate_image tool with prompt and ckpt_name (other parameters are optional).\n\
                 3. If the answer says the job is still running, poll get_job_status with its job_id, then \
                 call get_output.\n\
                 4. Report the asset_id and comfy://assets/ URI of each output."
            )
        }
        "fix_workflow" => {
            let workflow = arg(args, "workflow", true)?.unwrap_or_default();
            format!(
                "Here is an API-format ComfyUI workflow:\n\n{workflow}\n\n\
                 Call validate_workflow with it. For every problem: use get_node_info for the node's inputs, \
                 search_models or list_models for file names, and the suggestions in the problem. Fix them \
                 all, validate again until it is valid, then show the fixed workflow."
            )
        }
        "find_model" => {
            let query = arg(args, "query", true)?.unwrap_or_default();
            let folder = arg(args, "folder", false)?.map(|f| format!(" in folder {f:?}")).unwrap_or_default();
            format!(
                "Find model files matching {query:?}{folder} with search_models. If nothing matches, call \
                 list_models (without a folder to see the folders). Answer with the exact file names, as \
                 workflow inputs take them."
            )
        }
        other => {
            let names: Vec<String> = list().into_iter().map(|p| p.name).collect();
            return Err(ToolError::new("unknown_prompt", format!("no prompt {other:?}"))
                .with_field("name")
                .with_expected(format!("one of: {}", names.join(", "))));
        }
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]))
}
