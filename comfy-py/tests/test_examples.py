"""The examples in examples/python run against comfy-fake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, Fake, image_workflow, sampler_workflow

EXAMPLES = REPO / "examples" / "python"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)


def test_blocking_example(fake: Fake, tmp_path: Path) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(image_workflow("example")))
    r = run("run_blocking.py", str(wf), "--url", fake.url, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "succeeded" in r.stdout
    assert len(list((tmp_path / "out").iterdir())) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"1": {"class_type": "EmptyImag", "inputs": {}}}))
    r = run("run_blocking.py", str(bad), "--url", fake.url)
    assert r.returncode == 1 and "unknown_class" in r.stderr


def test_async_example(fake: Fake, tmp_path: Path) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(sampler_workflow(3, "example-async")))
    r = run("run_async.py", str(wf), "--url", fake.url, "--seeds", "7", "8", "--out", str(tmp_path / "out"), "--mcp")
    assert r.returncode == 0, r.stderr
    assert "MCP endpoint: http://127.0.0.1:" in r.stdout
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "out").iterdir()) == ["seed7", "seed8"]
