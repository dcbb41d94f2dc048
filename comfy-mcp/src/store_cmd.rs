//! `comfy-mcp store migrate --from … --to …`: copies one store into another through
//! [`StoreConfig::migrate_to`] and prints the counts as JSON.

use std::process::ExitCode;

use comfy_core::StoreConfig;

use crate::cli::StoreMigrateArgs;
use crate::verbs::{EXIT_BACKEND, EXIT_USAGE};

/// Runs `store migrate`; prints `{"from", "to", "jobs", "assets", "batches"}` (each with
/// `copied`, `updated`, `unchanged`) on stdout, passwords masked.
pub async fn migrate(args: StoreMigrateArgs) -> ExitCode {
    let parse = |what: &str, raw: &str| {
        StoreConfig::parse(raw).map_err(|e| format!("comfy-mcp store migrate: --{what}: {e}"))
    };
    let (from, to) = match (parse("from", &args.from), parse("to", &args.to)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    tracing::info!(from = %from, to = %to, "copying the store");
    match from.migrate_to(&to).await {
        Ok(report) => {
            let out = serde_json::json!({
                "from": from.to_string(),
                "to": to.to_string(),
                "jobs": report.jobs,
                "assets": report.assets,
                "batches": report.batches,
            });
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("comfy-mcp store migrate: {e}");
            let code = if e.code() == "invalid_argument" { EXIT_USAGE } else { EXIT_BACKEND };
            ExitCode::from(code)
        }
    }
}
