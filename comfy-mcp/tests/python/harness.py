"""Starts the real binaries (comfy-fake, comfy-mcp) and opens MCP client sessions on them.

The binaries come from COMFY_MCP_BIN and COMFY_FAKE_BIN (scripts/test.sh builds them with cargo
and sets both); a missing one is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

CKPT = "v1-5-pruned-emaonly.safetensors"
TOKEN = "pytest-secret-token"


def binary(var: str) -> str:
    path = os.environ.get(var)
    if not path:
        raise RuntimeError(f"{var} is not set: build the binaries (cargo build -p comfy-mcp -p comfy-fake) and point {var} at one")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{var}={path} is not an executable file")
    return path


@dataclass
class Fake:
    """A running comfy-fake process."""

    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()  # --exit-on-eof
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_fake(*extra: str) -> Fake:
    """Starts comfy-fake on a free port; returns once it printed its URL."""
    p = subprocess.Popen(
        [binary("COMFY_FAKE_BIN"), "--listen", "127.0.0.1:0", "--exit-on-eof", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert p.stdout is not None
    line = p.stdout.readline().decode()
    if not line.startswith("http://"):
        p.kill()
        raise RuntimeError(f"comfy-fake printed {line!r} instead of its URL (exit {p.wait()})")
    return Fake(url=line.strip(), process=p)


def server_env(comfyui_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a comfy-mcp process: nothing inherited but PATH."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "COMFYUI_URL": comfyui_url,
        "COMFY_MCP_DATA_DIR": data_dir,
        "COMFY_MCP_LOG": "info",
    }
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def stdio_session(comfyui_url: str, *args: str, **env: str) -> AsyncIterator[ClientSession]:
    """The real comfy-mcp over stdio (mcp.client.stdio), initialized."""
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "w") as errlog:
        params = StdioServerParameters(command=binary("COMFY_MCP_BIN"), args=list(args), env=server_env(comfyui_url, data, **env))
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@dataclass
class HttpServer:
    """A comfy-mcp process serving streamable HTTP."""

    base: str
    process: subprocess.Popen[bytes]
    data: tempfile.TemporaryDirectory[str]
    log: pathlib.Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.data.cleanup()


ADDRESS = re.compile(r'"address":"(127\.0\.0\.1:\d+)"')


def start_http(comfyui_url: str, *args: str) -> HttpServer:
    """Starts comfy-mcp --transport http on a free port with a token; waits for its log line."""
    data = tempfile.TemporaryDirectory()
    log = pathlib.Path(data.name) / "stderr.log"
    with open(log, "wb") as err:
        p = subprocess.Popen(
            [binary("COMFY_MCP_BIN"), "--transport", "http", "--listen", "127.0.0.1:0", "--token", TOKEN,
             "--log-format", "json", "--rate-limit", "100000", *args],
            env=server_env(comfyui_url, data.name),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if m := ADDRESS.search(text):
            return HttpServer(base=f"http://{m.group(1)}", process=p, data=data, log=log)
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    raise RuntimeError(f"comfy-mcp HTTP did not report its address: {log.read_text(errors='replace')}")


@contextlib.asynccontextmanager
async def http_session(
    server: HttpServer, token: str | None = TOKEN, statuses: list[int] | None = None, methods: list[str] | None = None
) -> AsyncIterator[ClientSession]:
    """A streamable-HTTP session (mcp.client.streamable_http) with a bearer token, initialized.
    `statuses` collects the HTTP status of every response, `methods` its request's method."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)
        if methods is not None:
            methods.append(response.request.method)

    hooks = {"response": [record]}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0), event_hooks=hooks) as client:
        async with streamable_http_client(server.mcp_url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def structured(result: Any) -> dict[str, Any]:
    """The structured content of a successful call; checks the text block mirrors it."""
    assert not result.is_error, f"tool failed: {result.structured_content}"
    s = result.structured_content
    assert isinstance(s, dict), result
    assert json.loads(result.content[0].text) == s
    return s


def image_workflow(prefix: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def generate_args(steps: int) -> dict[str, Any]:
    return {"prompt": "a lighthouse", "ckpt_name": CKPT, "steps": steps, "width": 64, "height": 64}


@contextlib.contextmanager
def fake_server(*extra: str) -> Iterator[Fake]:
    fake = start_fake(*extra)
    try:
        yield fake
    finally:
        fake.stop()
