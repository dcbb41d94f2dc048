"""Fixtures: one comfy-fake for the session, one comfy-mcp HTTP server on it, and `connect`,
which opens an MCP session over the transport the test is parametrized with."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fake() -> Iterator[harness.Fake]:
    """comfy-fake with the full captured catalogue, a checkpoint and 5 ms per sampler step."""
    with harness.fake_server("--full-catalog", "--step-delay-ms", "5", "--model-file", f"checkpoints={harness.CKPT}") as f:
        yield f


@pytest.fixture(scope="session")
def http_server(fake: harness.Fake) -> Iterator[harness.HttpServer]:
    server = harness.start_http(fake.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(
    transport: str, fake: harness.Fake, http_server: harness.HttpServer
) -> Callable[[], AbstractAsyncContextManager[ClientSession]]:
    """`async with connect() as session:` — an initialized MCP session on the real binary."""
    if transport == "stdio":
        return lambda: harness.stdio_session(fake.url)
    return lambda: harness.http_session(http_server)
