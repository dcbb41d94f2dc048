//! The `comfy-fake` binary: prints its URL, serves, and stops on stdin EOF or SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_comfy-fake");

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("comfy-fake did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn prints_only_its_url_serves_and_exits_on_stdin_eof() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--model-file", "checkpoints=a.safetensors", "--exit-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line.strip_suffix('\n').expect("one line");
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    let models: Vec<String> =
        reqwest::get(format!("{url}/models/checkpoints")).await.unwrap().json().await.unwrap();
    assert_eq!(models, ["a.safetensors"]);
    let info: serde_json::Value = reqwest::get(format!("{url}/object_info/CheckpointLoaderSimple"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0][0], "a.safetensors");
    // Input is ignored; EOF stops it.
    child.stdin.as_mut().unwrap().write_all(b"hello\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none(), "still serving after input");
    drop(child.stdin.take());
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "nothing but the URL on stdout");
}

#[cfg(unix)]
#[test]
fn stops_on_sigterm_and_rejects_bad_arguments() {
    let mut child = Command::new(BIN).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line}");
    // Without --exit-on-eof a closed stdin does not stop it.
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none());
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());

    // A SIGTERM right after the URL is printed is handled too (listeners come first).
    for _ in 0..5 {
        let mut child = Command::new(BIN).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert!(status.success(), "a clean exit, not death by signal: {status:?}");
    }

    let out = Command::new(BIN).args(["--model-file", "no-equals-sign"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FOLDER=NAME"));
    assert!(out.stdout.is_empty());
}
