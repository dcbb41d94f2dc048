//! The `run`, `validate`, `convert` and `generate` command-line verbs: stderr for people, stdout for
//! results, exit codes for scripts. Every verb takes editor (UI-format) files as well as API ones.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::catalog::Catalog;
use comfy_core::job::JobStatus;
use comfy_core::prepare::check_value;
use comfy_core::template::{Template, TemplateLibrary};
use comfy_core::validate::ValidateOptions;
use comfy_core::{Checked, ClientOptions, JobResult, Source, StoreConfig, SubmitOptions, Update, Workflow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};

use crate::cli::{ConvertArgs, GenerateArgs, RunArgs, ValidateArgs, WorkflowFormatArg};
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
/// Exit code: interrupted (Ctrl-C / SIGTERM); the job was cancelled.
pub const EXIT_INTERRUPTED: u8 = 130;

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

fn backend(settings: &Settings) -> Result<Arc<dyn Backend>, Fail> {
    settings.backend_config().build().map_err(Fail::core)
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
    let checked = match &input {
        Input::Workflow(v) => check_value(v, &catalog, &ValidateOptions::default()).map_err(Fail::core)?,
        Input::Template(t) => Checked::from_report(t.check(&catalog), Vec::new()),
    };
    for w in &checked.conversion_warnings {
        eprintln!("conversion: {w}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checked.problems).unwrap_or_default());
    } else {
        for p in &checked.problems {
            let severity = match p.severity {
                comfy_core::validate::Severity::Error => "error",
                comfy_core::validate::Severity::Warning => "warning",
            };
            println!("{severity}: {p}");
        }
    }
    eprintln!(
        "{}",
        match checked.valid {
            true => format!("workflow is valid ({} warnings)", checked.warnings),
            false => format!(
                "workflow has {} error{} and {} warning{}",
                checked.errors,
                if checked.errors == 1 { "" } else { "s" },
                checked.warnings,
                if checked.warnings == 1 { "" } else { "s" }
            ),
        }
    );
    Ok(if checked.valid { EXIT_OK } else { EXIT_FAILED })
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

/// `comfy-mcp run FILE`.
pub async fn run(settings: Settings, args: RunArgs) -> ExitCode {
    finish(run_inner(settings, args).await)
}

async fn run_inner(settings: Settings, args: RunArgs) -> Result<u8, Fail> {
    let mut params = Map::new();
    let mut inputs = Map::new();
    for raw in &args.sets {
        match parse_assignment(raw).map_err(Fail::usage)? {
            Assignment::Param(n, v) => {
                params.insert(n, v);
            }
            Assignment::Input(n, i, v) => {
                inputs.insert(format!("{n}.{i}"), v);
            }
        }
    }
    let input = load_input(&args.file, &settings)?;
    // With --reuse, runs are looked up in (and recorded to) the configured store; else in memory.
    let config = settings.client_config();
    let config = if args.reuse { config } else { config.store(StoreConfig::Memory) };
    let comfy = config.workflows_dir(None).options(ClientOptions::default()).connect().map_err(Fail::core)?;
    let catalog = comfy.catalog().await.map_err(Fail::core)?;
    let source = match ui_template_or_workflow(input, Path::new(&args.file), &catalog)? {
        Input::Workflow(v) => {
            if let Some(name) = params.keys().next() {
                return Err(Fail::usage(format!(
                    "--set {name}=…: this file is a plain workflow (no parameters); use node.input=value"
                )));
            }
            Source::Json(v)
        }
        Input::Template(t) => Source::Template { template: Arc::new(*t), params },
    };
    let prepared = comfy.prepare(source.with_overrides(inputs)).await.map_err(|e| match e {
        e @ comfy_core::Error::InvalidOverride { .. } => Fail::usage(format!("--set {e}")),
        e => Fail::core(e),
    })?;
    for w in &prepared.conversion_warnings {
        eprintln!("conversion: {w}");
    }
    if let Some(params) = prepared.params() {
        for name in &prepared.random_seeds {
            eprintln!("{name} = {}", params.get(name).cloned().unwrap_or_default());
        }
    }
    let options = SubmitOptions { reuse: args.reuse, ..Default::default() };
    let mut request = prepared.into_request();
    request.backend = args.backend_name.clone();
    request.resubmit_if_lost = args.resubmit_if_lost;
    let submission = comfy.submit_with(request, options).await.map_err(Fail::core)?;
    let job = submission.job.clone();
    match &submission.reused_from {
        Some(from) => eprintln!("job {} (reused: an identical run already succeeded)", from.job_id),
        None => eprintln!("job {}", job.id()),
    }
    let result = match follow_with_bar(&job, args.quiet, args.timeout).await {
        Followed::Finished(result) => *result,
        Followed::TimedOut => {
            eprintln!("gave up waiting after {} s; job {} goes on in ComfyUI", args.timeout, job.id());
            return Ok(EXIT_TIMEOUT);
        }
        Followed::Interrupted if !submission.is_new() => return Ok(EXIT_INTERRUPTED),
        Followed::Interrupted => {
            eprintln!("interrupted: cancelling job {}", job.id());
            match job.cancel().await {
                Ok(outcome) => eprintln!("job {}: {}", job.id(), outcome_word(outcome)),
                Err(e) => eprintln!("could not cancel job {}: {e}", job.id()),
            }
            return Ok(EXIT_INTERRUPTED);
        }
    };
    match &result.status {
        JobStatus::Succeeded => {}
        JobStatus::Failed(_) => {
            eprintln!("{}", Update::Finished(result.clone()).describe());
            return Ok(EXIT_FAILED);
        }
        other => {
            eprintln!("job {}", other.name());
            return Ok(EXIT_FAILED);
        }
    }
    for path in comfy.save_assets(&result.assets, &args.out).await.map_err(Fail::core)? {
        println!("{}", path.display());
    }
    Ok(EXIT_OK)
}

/// `comfy-mcp generate --type T --model M --prompt P [--max-credits N] [--dry-run] [--wait]`.
pub async fn generate(settings: Settings, args: GenerateArgs) -> ExitCode {
    finish(generate_inner(settings, args).await)
}

async fn generate_inner(settings: Settings, args: GenerateArgs) -> Result<u8, Fail> {
    let media_type = args.media_type.parse::<comfy_core::MediaType>().map_err(Fail::core)?;
    let comfy = settings
        .client_config()
        .store(StoreConfig::Memory)
        .workflows_dir(None)
        .connect()
        .map_err(Fail::core)?;
    let mut media = Vec::with_capacity(args.media.len());
    for m in &args.media {
        let path = Path::new(m);
        if !path.is_file() {
            media.push(m.clone());
            continue;
        }
        let bytes = std::fs::read(path).map_err(|e| Fail::usage(format!("reading {m}: {e}")))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("media").to_owned();
        let uploaded =
            comfy.upload(comfy_core::backend::Upload::file(name, bytes)).await.map_err(Fail::core)?;
        media.push(uploaded.input_value());
    }
    let request = comfy_core::PartnerRequest {
        media_type,
        model: args.model.clone(),
        prompt: args.prompt.clone(),
        aspect_ratio: args.aspect_ratio.clone(),
        seed: args.seed,
        duration: args.duration,
        media,
        max_credits: args.max_credits,
        dry_run: args.dry_run,
    };
    let generated = comfy.partner_generate(request).await.map_err(Fail::core)?;
    let quote = &generated.quote;
    eprintln!("{}: {}", quote.class_type, quote.price_text);
    for w in &quote.warnings {
        eprintln!("warning: {w}");
    }
    let Some(job) = generated.job else {
        println!("{}", serde_json::to_string_pretty(quote).unwrap_or_default());
        return Ok(EXIT_OK);
    };
    if !args.wait {
        println!("{}", serde_json::json!({"job_id": job.id().as_str(), "class_type": quote.class_type}));
        return Ok(EXIT_OK);
    }
    eprintln!("job {}", job.id());
    let result = match follow_with_bar(&job, args.quiet, args.timeout).await {
        Followed::Finished(result) => *result,
        Followed::TimedOut => {
            eprintln!("gave up waiting after {} s; job {} goes on", args.timeout, job.id());
            return Ok(EXIT_TIMEOUT);
        }
        Followed::Interrupted => {
            eprintln!("interrupted: cancelling job {}", job.id());
            if let Err(e) = job.cancel().await {
                eprintln!("could not cancel job {}: {e}", job.id());
            }
            return Ok(EXIT_INTERRUPTED);
        }
    };
    if result.status != JobStatus::Succeeded {
        eprintln!("{}", Update::Finished(result.clone()).describe());
        return Ok(EXIT_FAILED);
    }
    for path in comfy.save_assets(&result.assets, &args.out).await.map_err(Fail::core)? {
        println!("{}", path.display());
    }
    Ok(EXIT_OK)
}

fn outcome_word(outcome: comfy_core::backend::CancelOutcome) -> String {
    serde_json::to_value(outcome).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

enum Followed {
    Finished(Box<JobResult>),
    TimedOut,
    Interrupted,
}

/// Follows the job with a progress bar (node id and class, step/max) until it finishes, the
/// time runs out, or the user interrupts (Ctrl-C, SIGTERM).
async fn follow_with_bar(job: &comfy_core::Job, quiet: bool, timeout: u64) -> Followed {
    let bar = if quiet {
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
    let mut updates = job.follow();
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);
    let interrupted = interrupt_signal();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                bar.abandon_with_message("interrupted");
                return Followed::Interrupted;
            }
            _ = &mut deadline => {
                bar.abandon_with_message("still running");
                return Followed::TimedOut;
            }
            update = updates.next() => match update {
                Some(Update::Finished(result)) => {
                    bar.finish_with_message(result.status.name());
                    return Followed::Finished(Box::new(result));
                }
                Some(Update::Preview(_)) => {}
                Some(update) => {
                    if let Some(f) = update.fraction() {
                        bar.set_position((f * 1000.0) as u64);
                    }
                    bar.set_message(update.describe());
                }
                None => {
                    bar.abandon();
                    return Followed::TimedOut;
                }
            }
        }
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn interrupt_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
