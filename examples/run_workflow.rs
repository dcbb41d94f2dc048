//! Run a workflow file (API or editor format) on a ComfyUI server with a live progress bar, then save
//! every output of every node into a folder.
//!
//! ```sh
//! cargo run --example run_workflow -- workflow_api.json --comfyui-url http://127.0.0.1:8188 --out outputs/
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::job::JobStatus;
use comfy_core::{Comfy, Source, Update};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "Run a ComfyUI workflow with live progress and save every output")]
struct Args {
    /// The workflow file (API format, "Export (API)" in ComfyUI, or an editor save).
    file: PathBuf,
    /// ComfyUI base URL.
    #[arg(long, env = "COMFYUI_URL", default_value = "http://127.0.0.1:8188")]
    comfyui_url: String,
    /// Where to save the outputs.
    #[arg(long, default_value = "outputs")]
    out: PathBuf,
    /// Give up waiting after this many seconds (the job keeps running on the server).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

async fn run(args: Args) -> Result<bool, comfy_core::Error> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| comfy_core::Error::InvalidArgument {
        argument: "file".into(),
        message: e.to_string(),
    })?;
    let workflow = comfy_core::json::parse_strict(&text, "workflow")?; // API or editor format
    let backend = LocalComfyUi::builder(&args.comfyui_url).build()?;
    let comfy = Comfy::builder(Arc::new(backend)).build()?;

    // Prepare (convert, validate against the live catalogue), then submit.
    let prepared = comfy.prepare(Source::Json(workflow)).await?;
    let job = comfy.submit(prepared.into_request()).await?;

    // Follow: queue position, node id and class, step/max, a fraction that never goes back.
    let bar = ProgressBar::new(1000);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}")
    {
        bar.set_style(style);
    }
    let mut updates = job.follow();
    let follow = async {
        while let Some(update) = updates.next().await {
            match update {
                Update::Finished(result) => return Some(result),
                Update::Preview(_) => {}
                other => {
                    bar.set_position((other.fraction().unwrap_or(0.0) * 1000.0) as u64);
                    bar.set_message(other.describe());
                }
            }
        }
        None
    };
    let Ok(Some(result)) = tokio::time::timeout(Duration::from_secs(args.timeout), follow).await else {
        bar.abandon_with_message("still running");
        eprintln!("gave up waiting; job {} continues on the server", job.id());
        return Ok(false);
    };
    bar.finish_with_message(Update::Finished(result.clone()).describe());
    if result.status != JobStatus::Succeeded {
        return Ok(false);
    }
    // Every output of every node, fetched through the backend.
    for path in comfy.save_assets(&result.assets, &args.out).await? {
        println!("{}", path.display());
    }
    Ok(true)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
