"""Streamable HTTP without the MCP client: plain httpx requests against the real binary."""

from __future__ import annotations

import httpx
import pytest
from harness import HttpServer, http_session

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "pytest", "version": "0"}},
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def test_no_or_wrong_token_is_401(http_server: HttpServer) -> None:
    r = httpx.post(http_server.mcp_url, json=INITIALIZE, headers=HEADERS, timeout=10)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"] == "unauthorized"
    r = httpx.post(http_server.mcp_url, json=INITIALIZE, headers={**HEADERS, "authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
    r = httpx.post(http_server.mcp_url, json=INITIALIZE, headers={**HEADERS, "authorization": "Bearer pytest-secret-token"}, timeout=10)
    assert r.status_code == 200, r.text


def test_probes_need_no_token(http_server: HttpServer) -> None:
    assert httpx.get(f"{http_server.base}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{http_server.base}/readyz", timeout=10).json() == {"status": "ready"}


@pytest.mark.anyio
async def test_the_mcp_client_without_a_token_is_refused(http_server: HttpServer) -> None:
    statuses: list[int] = []
    with pytest.raises(BaseException) as info:
        async with http_session(http_server, token=None, statuses=statuses):
            pass
    assert "MCPError" in repr(info.value), repr(info.value)
    assert statuses == [401], statuses
    statuses.clear()
    async with http_session(http_server, statuses=statuses) as session:
        assert (await session.send_ping()) is not None
    assert statuses and all(s in (200, 202) for s in statuses), statuses
