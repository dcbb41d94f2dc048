//! The `run`, `validate` and `convert` command-line verbs: stderr for people, stdout for
//! results, exit codes for scripts. Every verb takes editor (UI-format) files as well as API ones.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{Backend, JobEvent, JobRequest};
use comfy_core::catalog::Catalog;
use comfy_core::job::JobStatus;
use comfy_core::store::{MemoryStore, Provenance};
use comfy_core::template::{ParamDefaults, RenderRequest, Template, TemplateLibrary};
use comfy_core::validate::{ValidateOptions, validate_value};
use comfy_core::workflow::apply_overrides;
use comfy_core::{Comfy, Waited, Workflow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};

use crate::cli::{ConvertArgs, RunArgs, ValidateArgs, WorkflowFormatArg};
use crate::config::Settings;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the job failed or was cancelled / the workflow has errors.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input (file, --set, configuration).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: ComfyUI unreachable or refused the workflow.
pub const EXIT_BACKEND: u8 = 3;
/// Exit code: gave up waiting (the job goes on).
pub const EXIT_TIMEOUT: u8 = 4;

struct Fail(u8, String);

impl Fail {
    fn usage(m: impl Into<String>) -> Fail {
        Fail(EXIT_USAGE, m.into())
    }
    fn core(e: comfy_core::Error) -> Fail {
        let code = match e.code() {
            "backend_unreachable"
            | "backend_http_error"
            | "unexpected_response"
            | "prompt_rejected"
            | "timeout" => EXIT_BACKEND,
            "validation_failed" => EXIT_FAILED,
            _ => EXIT_USAGE,
        };
        Fail(code, e.to_string())
    }
}

fn finish(result: Result<u8, Fail>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, message)) => {
            eprintln!("comfy-mcp: {message}");
            ExitCode::from(code)
        }
    }
}

/// What a FILE argument turned out to be.
enum Input {
    Workflow(Value),
    Template(Box<Template>),
}

fn load_input(file: &str, settings: &Settings) -> Result<Input, Fail> {
    let path = Path::new(file);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| Fail::usage(format!("reading {file}: {e}")))?;
        let value = comfy_core::json::parse_strict(&text, "workflow").map_err(Fail::core)?;
        let is_template = value.get("__metadata__").is_some()
            || path.with_extension("meta.json").is_file()
            || Template::from_file(path).is_ok_and(|t| !t.params.is_empty());
        if is_template {
            return Template::from_file(path).map(|t| Input::Template(Box::new(t))).map_err(Fail::core);
        }
        return Ok(Input::Workflow(value));
    }
    // Not a file: a template name.
    let lib = match &settings.workflows_dir {
        Some(dir) => TemplateLibrary::load(dir).map_err(Fail::core)?,
        None => TemplateLibrary::builtin(),
    };
    match lib.get(file) {
        Ok(t) => Ok(Input::Template(Box::new((*t).clone()))),
        Err(e) => Err(Fail::usage(format!("{file} is not a file, and {e}"))),
    }
}

fn backend(settings: &Settings) -> Result<LocalComfyUi, Fail> {
    let mut b = LocalComfyUi::builder(&settings.comfyui_url);
    if let Some(k) = &settings.comfy_api_key {
        b = b.comfy_api_key(k.clone());
    }
    b.build().map_err(Fail::core)
}

/// The catalogue from a saved `/object_info` file, else from the live server.
async fn catalog_for(settings: &Settings, object_info: Option<&Path>) -> Result<Arc<Catalog>, Fail> {
    match object_info {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Fail::usage(format!("reading {}: {e}", path.display())))?;
            Ok(Arc::new(Catalog::from_json_str(&text).map_err(Fail::core)?))
        }
        None => backend(settings)?.catalog(false).await.map_err(Fail::core),
    }
}

/// An editor file with placeholders (`"{{name}}"`, `PARAM_…` widget values) is a template once
/// converted with the catalogue; any other input is returned as it is.
fn ui_template_or_workflow(input: Input, file: &Path, catalog: &Catalog) -> Result<Input, Fail> {
    match input {
        Input::Workflow(v) if comfy_core::ui::is_ui(&v) && file.is_file() => {
            match Template::from_file_with(file, Some(catalog)) {
                Ok(t) if !t.params.is_empty() => Ok(Input::Template(Box::new(t))),
                _ => Ok(Input::Workflow(v)),
            }
        }
        other => Ok(other),
    }
}

/// `comfy-mcp validate FILE`.
pub async fn validate(settings: Settings, args: ValidateArgs) -> ExitCode {
    finish(validate_inner(settings, args).await)
}

async fn validate_inner(settings: Settings, args: ValidateArgs) -> Result<u8, Fail> {
    let file = args.file.to_string_lossy().into_owned();
    if !args.file.is_file() {
        return Err(Fail::usage(format!("{file}: no such file")));
    }
    let input = load_input(&file, &settings)?;
    let catalog = catalog_for(&settings, args.object_info.as_deref()).await?;
    let input = ui_template_or_workflow(input, &args.file, &catalog)?;
    let report = match &input {
        Input::Workflow(v) if comfy_core::ui::is_ui(v) => {
            let converted = comfy_core::ui::to_api(v, &catalog).map_err(Fail::core)?;
            for w in &converted.warnings {
                eprintln!("conversion: {w}");
            }
            validate_value(&converted.workflow.to_value(), &catalog, &ValidateOptions::default())
        }
        Input::Workflow(v) => validate_value(v, &catalog, &ValidateOptions::default()),
        Input::Template(t) => t.check(&catalog),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.problems).unwrap_or_default());
    } else {
        for p in &report.problems {
            let severity = match p.severity {
                comfy_core::validate::Severity::Error => "error",
                comfy_core::validate::Severity::Warning => "warning",
            };
            println!("{severity}: {p}");
        }
    }
    eprintln!("{}", report.summary());
    Ok(if report.is_ok() { EXIT_OK } else { EXIT_FAILED })
}

/// `comfy-mcp convert FILE`.
pub async fn convert(settings: Settings, args: ConvertArgs) -> ExitCode {
    finish(convert_inner(settings, args).await)
}

async fn convert_inner(settings: Settings, args: ConvertArgs) -> Result<u8, Fail> {
    let file = args.file.display().to_string();
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| Fail::usage(format!("reading {file}: {e}")))?;
    let value = comfy_core::json::parse_strict(&text, &file).map_err(Fail::core)?;
    let from_ui = comfy_core::ui::is_ui(&value);
    let to = args.to.unwrap_or(if from_ui { WorkflowFormatArg::Api } else { WorkflowFormatArg::Ui });
    let catalog = catalog_for(&settings, args.object_info.as_deref()).await?;
    let out = match (from_ui, to) {
        (true, WorkflowFormatArg::Api) => {
            let converted = comfy_core::ui::to_api(&value, &catalog).map_err(Fail::core)?;
            for w in &converted.warnings {
                eprintln!("warning: {w}");
            }
            converted.workflow.to_value()
        }
        (false, WorkflowFormatArg::Ui) => {
            let workflow = Workflow::from_value(value).map_err(Fail::core)?;
            comfy_core::ui::to_ui(&workflow, &catalog).map_err(Fail::core)?
        }
        // Already in the asked format: checked (and for UI, that it converts), printed as is.
        (true, WorkflowFormatArg::Ui) => {
            comfy_core::ui::to_api(&value, &catalog).map_err(Fail::core)?;
            value
        }
        (false, WorkflowFormatArg::Api) => Workflow::from_value(value).map_err(Fail::core)?.to_value(),
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(EXIT_OK)
}

/// A `--set` assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignment {
    /// `name=value`: a template parameter.
    Param(String, Value),
    /// `node.input=value`: a node input (node id or unique title).
    Input(String, String, Value),
}

/// Parses `name=value` or `node.input=value`; the value is JSON if it parses, else text.
pub fn parse_assignment(raw: &str) -> Result<Assignment, String> {
    let (target, value) = raw.split_once('=').ok_or_else(|| format!("--set {raw:?}: expected NAME=VALUE"))?;
    let target = target.trim();
    if target.is_empty() {
        return Err(format!("--set {raw:?}: the name is empty"));
    }
    let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    match target.rsplit_once('.') {
        Some((node, input)) if !node.is_empty() && !input.is_empty() => {
            Ok(Assignment::Input(node.to_owned(), input.to_owned(), value))
        }
        Some(_) => Err(format!("--set {raw:?}: expected node.input=value")),
        None => Ok(Assignment::Param(target.to_owned(), value)),
    }
}

/// Applies `node.input=value` assignments with the core's addressing (node id or unique title,
/// input and value checked against the catalogue).
fn apply_inputs(
    workflow: &mut Workflow,
    sets: &[(String, String, Value)],
    catalog: &Catalog,
) -> Result<(), Fail> {
    let keyed: Vec<(String, &Value)> = sets.iter().map(|(n, i, v)| (format!("{n}.{i}"), v)).collect();
    apply_overrides(workflow, keyed.iter().map(|(k, v)| (k.as_str(), *v)), catalog)
        .map_err(|e| Fail::usage(format!("--set {e}")))
}

/// `comfy-mcp run FILE`.
pub async fn run(settings: Settings, args: RunArgs) -> ExitCode {
    finish(run_inner(settings, args).await)
}

async fn run_inner(settings: Settings, args: RunArgs) -> Result<u8, Fail> {
    let mut params = Map::new();
    let mut inputs = Vec::new();
    for raw in &args.sets {
        match parse_assignment(raw).map_err(Fail::usage)? {
            Assignment::Param(n, v) => {
                params.insert(n, v);
            }
            Assignment::Input(n, i, v) => inputs.push((n, i, v)),
        }
    }
    let input = load_input(&args.file, &settings)?;
    let backend = Arc::new(backend(&settings)?);
    let catalog = backend.catalog(false).await.map_err(Fail::core)?;
    let input = ui_template_or_workflow(input, Path::new(&args.file), &catalog)?;
    let (mut workflow, provenance) = match input {
        Input::Workflow(v) => {
            if let Some(name) = params.keys().next() {
                return Err(Fail::usage(format!(
                    "--set {name}=…: this file is a plain workflow (no parameters); use node.input=value"
                )));
            }
            let converted = comfy_core::ui::to_api_any(&v, &catalog).map_err(Fail::core)?;
            for w in &converted.warnings {
                eprintln!("conversion: {w}");
            }
            (converted.workflow, Provenance::default())
        }
        Input::Template(mut t) => {
            t.enrich(&catalog);
            let mut defaults = ParamDefaults::from_env();
            defaults.config = settings.defaults.clone();
            let rendered =
                t.render(&RenderRequest::new(params).with_defaults(&defaults)).map_err(Fail::core)?;
            for name in &rendered.random_seeds {
                eprintln!("{name} = {}", rendered.params[name]);
            }
            let params: Map<String, Value> = rendered.params.clone().into_iter().collect();
            (
                rendered.workflow,
                Provenance {
                    template: Some(t.name.clone()),
                    params: Some(Value::Object(params)),
                    owner: None,
                },
            )
        }
    };
    apply_inputs(&mut workflow, &inputs, &catalog)?;
    let comfy =
        Comfy::builder(backend).store(Arc::new(MemoryStore::default())).build().map_err(Fail::core)?;
    let mut request = JobRequest::new(workflow);
    request.provenance = provenance;
    let job = comfy.submit(request).await.map_err(Fail::core)?;
    eprintln!("job {}", job.id());

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr())
    };
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut events = job.subscribe();
    let follow = async {
        while let Some(event) = events.next().await {
            match &event {
                JobEvent::Status(JobStatus::Queued { position }) => bar.set_message(match position {
                    Some(p) => format!("queued at {p}"),
                    None => "queued".into(),
                }),
                JobEvent::Executing { node_id } => bar.set_message(format!("node {node_id}")),
                JobEvent::Progress { value, max, .. } => bar.set_message(format!("step {value}/{max}")),
                JobEvent::Status(s) if s.is_terminal() => break,
                _ => {}
            }
            if let JobStatus::Running(p) = job.status() {
                bar.set_position((p.fraction.clamp(0.0, 1.0) * 1000.0) as u64);
            }
        }
    };
    let timed_out = tokio::time::timeout(Duration::from_secs(args.timeout), follow).await.is_err();
    let result =
        match job.wait(Duration::from_secs(if timed_out { 0 } else { 10 })).await.map_err(Fail::core)? {
            Waited::Finished(r) => r,
            Waited::StillRunning(job) => {
                bar.abandon_with_message("still running");
                eprintln!("gave up waiting; job {} goes on in ComfyUI", job.id());
                return Ok(EXIT_TIMEOUT);
            }
        };
    bar.finish_with_message(result.status.name().to_string());
    match &result.status {
        JobStatus::Succeeded => {}
        JobStatus::Failed(f) => {
            eprintln!(
                "failed at node {} ({}): {} {}",
                f.node_id.as_deref().unwrap_or("?"),
                f.class_type.as_deref().unwrap_or("?"),
                f.exception_type.as_deref().unwrap_or(""),
                f.message
            );
            return Ok(EXIT_FAILED);
        }
        other => {
            eprintln!("job {}", other.name());
            return Ok(EXIT_FAILED);
        }
    }
    save_all(&comfy, &result.assets, &args.out).await?;
    Ok(EXIT_OK)
}

async fn save_all(comfy: &Comfy, assets: &[comfy_core::store::AssetId], out: &PathBuf) -> Result<(), Fail> {
    std::fs::create_dir_all(out).map_err(|e| Fail::usage(format!("creating {}: {e}", out.display())))?;
    for id in assets {
        let fetched = comfy.fetch_asset(id).await.map_err(Fail::core)?;
        let a = &fetched.asset;
        let name = match &a.file {
            Some(f) => format!("{}_{}", a.node_id, f.filename),
            None => format!("{}_{}_{}.txt", a.node_id, a.key, a.index),
        };
        let path = out.join(name.replace(['/', '\\'], "_"));
        std::fs::write(&path, &fetched.data)
            .map_err(|e| Fail::usage(format!("writing {}: {e}", path.display())))?;
        println!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn assignments_parse() {
        assert_eq!(parse_assignment("steps=30").unwrap(), Assignment::Param("steps".into(), json!(30)));
        assert_eq!(
            parse_assignment("prompt=a cat").unwrap(),
            Assignment::Param("prompt".into(), json!("a cat"))
        );
        assert_eq!(
            parse_assignment("3.seed=7").unwrap(),
            Assignment::Input("3".into(), "seed".into(), json!(7))
        );
        assert_eq!(
            parse_assignment("My Sampler.cfg=6.5").unwrap(),
            Assignment::Input("My Sampler".into(), "cfg".into(), json!(6.5))
        );
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("=3").is_err());
        assert!(parse_assignment(".x=3").is_err());
    }
}
