//! The `comfy-mcp` binary: serve MCP (stdio or HTTP), or run/validate/convert a workflow.

use std::process::ExitCode;

use clap::Parser;
use comfy_mcp::cli::{Cli, Command, StoreCommand, Transport};
use comfy_mcp::config::Settings;
use comfy_mcp::state::AppState;
use comfy_mcp::{init_logging, verbs};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_args(&cli.server) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("comfy-mcp: {e}");
            return ExitCode::from(verbs::EXIT_USAGE);
        }
    };
    if cli.server.print_config {
        print!("{}", settings.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(settings.log_format, &settings.log_level);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let serves_stdio =
        matches!(cli.command, None | Some(Command::Serve)) && settings.transport == Transport::Stdio;
    let runtime = match runtime_for(serves_stdio) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("comfy-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            None | Some(Command::Serve) => serve(settings).await,
            Some(Command::Run(args)) => verbs::run(settings, args).await,
            Some(Command::Validate(args)) => verbs::validate(settings, args).await,
            Some(Command::Convert(args)) => verbs::convert(settings, args).await,
            Some(Command::Generate(args)) => verbs::generate(settings, args).await,
            Some(Command::Store(StoreCommand::Migrate(args))) => comfy_mcp::store_cmd::migrate(args).await,
        }
    })
}

/// The async runtime: one thread for a stdio server, a worker per core otherwise.
///
/// A stdio server has one client whose messages arrive one pipe read at a time; on a
/// multi-threaded runtime each of them wakes a parked worker on another core (futex calls,
/// cross-core hand-offs), which cost a light call more than the server's own work. Heavy work
/// (SQLite, image codecs, file IO) runs on the blocking pool either way. HTTP serves many
/// sessions at once and keeps one worker per core (`TOKIO_WORKER_THREADS` sets the count).
fn runtime_for(stdio: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if stdio {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
}

/// Said once when the stdio server is started from a terminal, where no MCP client is.
const TERMINAL_HINT: &str = "comfy-mcp: waiting for an MCP client on stdin (JSON-RPC). This is an MCP \
server for an agent to start; see `comfy-mcp --help`, `comfy-mcp run WORKFLOW` to run a workflow \
yourself, or `--transport http` to serve over HTTP. Ctrl-C quits.";

async fn serve(settings: Settings) -> ExitCode {
    let transport = settings.transport;
    let state = match AppState::from_settings(settings) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("comfy-mcp: {e}");
            return ExitCode::from(verbs::EXIT_USAGE);
        }
    };
    state.start_background();
    let result = match transport {
        Transport::Stdio => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("{TERMINAL_HINT}");
            }
            comfy_mcp::serve_stdio(state).await
        }
        Transport::Http => {
            let shutdown = CancellationToken::new();
            let on_signal = shutdown.clone();
            tokio::spawn(async move {
                comfy_mcp::drain::stop_signal().await;
                tracing::info!("shutting down: draining");
                on_signal.cancel();
                comfy_mcp::drain::stop_signal().await;
                tracing::warn!("second stop signal: exiting now");
                std::process::exit(130);
            });
            comfy_mcp::http::serve(state, shutdown).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped");
            eprintln!("comfy-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}
