//! Run an API-format workflow file on a ComfyUI server with a live progress bar, then save
//! every output of every node into a folder.
//!
//! ```sh
//! cargo run --example run_workflow -- workflow_api.json --comfyui-url http://127.0.0.1:8188 --out outputs/
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{JobEvent, JobRequest};
use comfy_core::job::JobStatus;
use comfy_core::{Comfy, Workflow};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "Run a ComfyUI workflow with live progress and save every output")]
struct Args {
    /// The workflow file (API format, "Export (API)" in ComfyUI).
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

async fn run(args: Args) -> Result<bool, String> {
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| format!("reading {}: {e}", args.file.display()))?;
    let workflow = Workflow::from_json_str(&text).map_err(|e| e.to_string())?;
    let backend = LocalComfyUi::builder(&args.comfyui_url).build().map_err(|e| e.to_string())?;
    let comfy = Comfy::builder(Arc::new(backend)).build().map_err(|e| e.to_string())?;

    let job = comfy.submit(JobRequest::new(workflow)).await.map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}")
            .map_err(|e| e.to_string())?,
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut events = job.subscribe();
    let follow = async {
        while let Some(event) = events.next().await {
            match event {
                JobEvent::Status(JobStatus::Queued { position }) => bar.set_message(format!(
                    "queued{}",
                    position.map(|p| format!(" at {p}")).unwrap_or_default()
                )),
                JobEvent::Status(JobStatus::Running(p)) => bar.set_position((p.fraction * 1000.0) as u64),
                JobEvent::Executing { node_id } => bar.set_message(format!("node {node_id}")),
                JobEvent::Progress { value, max, .. } => bar.set_message(format!("step {value}/{max}")),
                JobEvent::Status(s) if s.is_terminal() => break,
                _ => {}
            }
            if let JobStatus::Running(p) = job.status() {
                bar.set_position((p.fraction * 1000.0) as u64);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(args.timeout), follow).await;
    let result = match job.wait(Duration::from_secs(1)).await.map_err(|e| e.to_string())? {
        comfy_core::Waited::Finished(r) => r,
        comfy_core::Waited::StillRunning(job) => {
            bar.abandon_with_message("still running");
            eprintln!("gave up waiting; job {} continues on the server", job.id());
            return Ok(false);
        }
    };
    bar.finish_with_message(result.status.name().to_string());
    if let JobStatus::Failed(f) = &result.status {
        eprintln!(
            "failed at node {} ({}): {} {}",
            f.node_id.as_deref().unwrap_or("?"),
            f.class_type.as_deref().unwrap_or("?"),
            f.exception_type.as_deref().unwrap_or(""),
            f.message
        );
        return Ok(false);
    }
    save_all(&comfy, &result.assets, &args.out).await?;
    Ok(result.status == JobStatus::Succeeded)
}

async fn save_all(comfy: &Comfy, assets: &[comfy_core::store::AssetId], out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    for id in assets {
        let fetched = comfy.fetch_asset(id).await.map_err(|e| e.to_string())?;
        let a = &fetched.asset;
        let name = match &a.file {
            Some(f) => format!("{}_{}", a.node_id, f.filename),
            None => format!("{}_{}_{}.txt", a.node_id, a.key, a.index),
        };
        let path = out.join(name.replace(['/', '\\'], "_"));
        std::fs::write(&path, &fetched.data).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("{}  {} ({} bytes, {})", path.display(), a.id, fetched.data.len(), a.mime_type);
    }
    Ok(())
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
