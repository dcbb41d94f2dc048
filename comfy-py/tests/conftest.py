"""Fixtures: comfy-fake processes (the binary from COMFY_FAKE_BIN, else target/debug/comfy-fake;
scripts/test-python.sh builds it), clients on them, and the workflows the tests run."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import comfy_rs

REPO = Path(__file__).resolve().parents[2]
CKPT = "tiny.safetensors"


def fixtures_dir() -> Path:
    """The shared ComfyUI captures (COMFY_FIXTURES_DIR, else ../shared/fixtures/comfyui)."""
    return Path(os.environ.get("COMFY_FIXTURES_DIR") or REPO.parent / "shared" / "fixtures" / "comfyui")


@dataclass
class Fake:
    """A running comfy-fake process."""

    url: str
    process: subprocess.Popen[bytes]

    def view(self, filename: str, subfolder: str = "", folder: str = "output") -> bytes:
        """The bytes the fake serves on /view for a file."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=10) as r:
            data: bytes = r.read()
            return data

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()  # --exit-on-eof
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def fake_binary() -> str:
    path = os.environ.get("COMFY_FAKE_BIN") or str(REPO / "target" / "debug" / "comfy-fake")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"comfy-fake binary not found at {path}: cargo build -p comfy-fake (or set COMFY_FAKE_BIN)")
    return path


def mcp_binary() -> str:
    """The comfy-mcp binary (COMFY_MCP_BIN, else target/debug/comfy-mcp; scripts/test-python.sh
    builds it): what the embedded server is compared with."""
    path = os.environ.get("COMFY_MCP_BIN") or str(REPO / "target" / "debug" / "comfy-mcp")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"comfy-mcp binary not found at {path}: cargo build -p comfy-mcp (or set COMFY_MCP_BIN)")
    return path


def start_fake(*extra: str) -> Fake:
    """Starts comfy-fake on a free port; returns once it printed its URL."""
    p = subprocess.Popen(
        [fake_binary(), "--listen", "127.0.0.1:0", "--exit-on-eof", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert p.stdout is not None
    line = p.stdout.readline().decode()
    if not line.startswith("http://"):
        p.kill()
        raise RuntimeError(f"comfy-fake printed {line!r} instead of its URL (exit {p.wait()})")
    return Fake(url=line.strip(), process=p)


@pytest.fixture(scope="session")
def fake() -> Iterator[Fake]:
    """comfy-fake with the full captured catalogue, a checkpoint, previews, 2 ms per step."""
    f = start_fake("--full-catalog", "--step-delay-ms", "2", "--previews", "--model-file", f"checkpoints={CKPT}")
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="session")
def slow_fake() -> Iterator[Fake]:
    """comfy-fake taking 20 ms per sampler step (jobs that run long enough to cancel)."""
    f = start_fake("--full-catalog", "--step-delay-ms", "20", "--model-file", f"checkpoints={CKPT}")
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
async def client(fake: Fake) -> AsyncIterator[comfy_rs.AsyncClient]:
    yield comfy_rs.AsyncClient(fake.url, max_running_jobs=64)


@pytest.fixture
def blocking(fake: Fake) -> comfy_rs.Client:
    return comfy_rs.Client(fake.url)


def image_workflow(prefix: str = "py", batch: int = 1, width: int = 32, height: int = 24) -> dict[str, Any]:
    """EmptyImage → ImageInvert → SaveImage (+ a PreviewImage of the source)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": batch, "color": 255}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def sampler_workflow(steps: int, prefix: str = "gen", seed: int = 1) -> dict[str, Any]:
    """A text-to-image graph (checkpoint, prompts, KSampler with `steps`, decode, save)."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
                "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A tiny valid RGBA PNG, without third-party modules."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80\x40\x20\xff" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
