//! The `comfy-fake` binary: serves the fake ComfyUI for tests written in other languages.
//!
//! ```sh
//! comfy-fake --listen 127.0.0.1:0 --full-catalog --step-delay-ms 2 \
//!     --model-file checkpoints=v1-5-pruned-emaonly.safetensors --exit-on-eof
//! ```
//!
//! Once the socket is bound it prints exactly its base URL (`http://127.0.0.1:PORT`) and a
//! newline on stdout, and nothing else ever; errors go to stderr. It runs until SIGTERM or
//! SIGINT, or, with `--exit-on-eof`, until its standard input is closed (so a test runner that
//! dies takes the fake with it).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use comfy_fake::FakeComfyUi;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A protocol-faithful fake ComfyUI server (HTTP + WebSocket) for tests.
#[derive(Debug, Parser)]
#[command(name = "comfy-fake", version, about)]
struct Args {
    /// Address to bind; port 0 picks a free port (the URL printed on stdout tells which).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Serve the full captured `/object_info` (496 classes, from the shared fixtures, see
    /// COMFY_FIXTURES_DIR) instead of the bundled 30-class core subset.
    #[arg(long)]
    full_catalog: bool,
    /// Delay between progress steps of nodes with a `steps` input, in milliseconds.
    #[arg(long, default_value_t = 0)]
    step_delay_ms: u64,
    /// Send binary preview frames with progress steps (like `--preview-method auto`).
    #[arg(long)]
    previews: bool,
    /// A model file listed by `/models/FOLDER` and in the loader combos, as `FOLDER=NAME`.
    /// Repeatable.
    #[arg(long = "model-file", value_name = "FOLDER=NAME")]
    model_files: Vec<String>,
    /// Serve a fake Comfy Cloud instead (routes under `/api`, API key required, signed-URL
    /// downloads from a second "storage" listener, every job's messages on every socket).
    #[arg(long)]
    cloud: bool,
    /// An API key the fake Cloud accepts (repeatable; each key is its own account). Default:
    /// `comfyui-fake-cloud-key`.
    #[arg(long = "api-key", value_name = "KEY", requires = "cloud")]
    api_keys: Vec<String>,
    /// Serve a fake RunComfy Serverless API instead (bearer token required, one deployment to
    /// start with, output URLs on a second "CDN" listener that refuses credentials).
    #[arg(long, conflicts_with = "cloud")]
    runcomfy: bool,
    /// A token the fake RunComfy accepts (repeatable; each is its own account). Default:
    /// `rc-fake-token`.
    #[arg(long = "runcomfy-token", value_name = "TOKEN", requires = "runcomfy")]
    runcomfy_tokens: Vec<String>,
    /// Stop when standard input reaches end of file.
    #[arg(long)]
    exit_on_eof: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut models: Vec<(String, String)> = Vec::new();
    for spec in &args.model_files {
        match spec.split_once('=') {
            Some((folder, name)) if !folder.is_empty() && !name.is_empty() => {
                models.push((folder.to_owned(), name.to_owned()));
            }
            _ => {
                eprintln!("comfy-fake: --model-file {spec:?}: expected FOLDER=NAME");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("comfy-fake: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, models))
}

/// The running server: a fake ComfyUI or a fake Comfy Cloud.
enum Fake {
    Local(FakeComfyUi),
    Cloud(comfy_fake::FakeComfyCloud),
    RunComfy(comfy_fake::FakeRunComfy),
}

async fn run(args: Args, models: Vec<(String, String)>) -> ExitCode {
    let mut builder = FakeComfyUi::builder()
        .listen(args.listen)
        .step_delay(Duration::from_millis(args.step_delay_ms))
        .previews(args.previews);
    if args.full_catalog {
        builder = builder.object_info_fixture();
    }
    let mut folders: Vec<&str> = models.iter().map(|(f, _)| f.as_str()).collect();
    folders.dedup();
    for folder in folders {
        let files: Vec<&str> = models.iter().filter(|(f, _)| f == folder).map(|(_, n)| n.as_str()).collect();
        builder = builder.model_files(folder, &files);
    }
    let started = if args.runcomfy {
        let mut rc = comfy_fake::FakeRunComfy::builder().listen(args.listen).engine(|_| builder);
        for token in &args.runcomfy_tokens {
            rc = rc.token(token);
        }
        rc.start().await.map(Fake::RunComfy)
    } else if args.cloud {
        let mut cloud = comfy_fake::FakeComfyCloud::builder().listen(args.listen).engine(|_| builder);
        for key in &args.api_keys {
            cloud = cloud.api_key(key);
        }
        cloud.start().await.map(Fake::Cloud)
    } else {
        builder.start().await.map(Fake::Local)
    };
    let fake = match started {
        Ok(f) => f,
        Err(e) => {
            eprintln!("comfy-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = match &fake {
        Fake::Local(f) => f.url(),
        Fake::Cloud(c) => c.url(),
        Fake::RunComfy(r) => r.url(),
    };
    // Listen for signals before announcing the URL: whoever reads it may stop us at once.
    let signals = Signals::new();
    let mut stdout = tokio::io::stdout();
    let announced = async {
        stdout.write_all(format!("{url}\n").as_bytes()).await?;
        stdout.flush().await
    };
    if let Err(e) = announced.await {
        eprintln!("comfy-fake: cannot write the URL on stdout: {e}");
        return ExitCode::FAILURE;
    }
    stopped(signals, args.exit_on_eof).await;
    match fake {
        Fake::Local(f) => f.shutdown(),
        Fake::Cloud(c) => c.shutdown(),
        Fake::RunComfy(r) => r.shutdown(),
    }
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM, SIGINT or (when asked) end of standard input.
async fn stopped(mut signals: Signals, exit_on_eof: bool) {
    let eof = async {
        if !exit_on_eof {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        // Any input is ignored; only EOF (or a read error) stops the server.
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = signals.recv() => {}
        _ = eof => {}
    }
}

/// SIGTERM and SIGINT listeners, registered when created.
#[cfg(unix)]
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("comfy-fake: cannot listen for {name}: {e}");
                None
            }
        };
        Signals {
            term: listen(SignalKind::terminate(), "SIGTERM"),
            int: listen(SignalKind::interrupt(), "SIGINT"),
        }
    }

    async fn recv(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.int) => {}
        }
    }
}

/// Ctrl-C listener (non-Unix).
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Signals {
        Signals
    }

    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
