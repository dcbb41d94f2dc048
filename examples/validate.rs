//! Check a workflow file (API format) or a template against a ComfyUI node catalogue: a live
//! server's `/object_info`, or a saved copy. Prints every problem; exits 1 when there is an error.
//!
//! ```sh
//! cargo run --example validate -- workflow_api.json                       # against http://127.0.0.1:8188
//! cargo run --example validate -- workflow_api.json --comfyui-url http://gpu-box:8188
//! cargo run --example validate -- workflow_api.json --object-info object_info.json
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use comfy_core::template::Template;
use comfy_core::validate::{Severity, ValidateOptions, validate_value};
use comfy_core::{Catalog, json::parse_strict};

#[derive(Parser)]
#[command(about = "Validate a ComfyUI workflow or template against a node catalogue")]
struct Args {
    /// The workflow (API format) or template file.
    file: std::path::PathBuf,
    /// ComfyUI base URL to fetch the catalogue from.
    #[arg(long, env = "COMFYUI_URL", default_value = "http://127.0.0.1:8188")]
    comfyui_url: String,
    /// Use a saved `/object_info` JSON file instead of a live server.
    #[arg(long)]
    object_info: Option<std::path::PathBuf>,
}

async fn load_catalog(args: &Args) -> Result<Catalog, String> {
    if let Some(path) = &args.object_info {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        return Catalog::from_json_str(&text).map_err(|e| e.to_string());
    }
    let url = format!("{}/api/object_info", args.comfyui_url.trim_end_matches('/'));
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let resp = client.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Catalog::from_json_str(&text).map_err(|e| e.to_string())
}

async fn run(args: Args) -> Result<bool, String> {
    let catalog = load_catalog(&args).await?;
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("reading {name}: {e}"))?;
    let value = parse_strict(&text, &name).map_err(|e| e.to_string())?;
    let report = if value.get("__metadata__").is_some() || text.contains("{{") || text.contains("\"PARAM_") {
        let template = Template::from_value(&name, value).map_err(|e| e.to_string())?;
        eprintln!("{name}: template with {} parameter(s)", template.params.len());
        template.check(&catalog)
    } else {
        validate_value(&value, &catalog, &ValidateOptions::default())
    };
    for p in &report.problems {
        let tag = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        eprintln!("{tag}: {p}");
    }
    eprintln!("{}", report.summary());
    Ok(report.is_ok())
}

#[tokio::main(flavor = "current_thread")]
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
