"""Streamable HTTP without the MCP client: plain httpx requests against the real binary."""

from __future__ import annotations

import logging

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
    ready = httpx.get(f"{http_server.base}/readyz", timeout=10).json()
    assert ready["status"] == "ready" and ready["ready"] is True, ready
    assert [b["kind"] for b in ready["backends"]] == ["local"], ready
    assert all("name" not in b for b in ready["backends"]), "no backend URL without a token"


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
    assert statuses and all(s in (200, 202, 204) for s in statuses), statuses


@pytest.mark.anyio
async def test_closing_a_session_is_a_clean_delete(http_server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    """The client ends its session with DELETE /mcp; the answer is one it accepts (200 or 204),
    so it logs no "Session termination failed", and the session is gone afterwards."""
    statuses: list[int] = []
    methods: list[str] = []

    caplog.set_level(logging.DEBUG, logger="mcp")
    async with http_session(http_server, statuses=statuses, methods=methods) as session:
        assert (await session.send_ping()) is not None
    assert "DELETE" in methods, methods
    delete_status = statuses[methods.index("DELETE")]
    assert delete_status in (200, 204), delete_status
    failures = [r.getMessage() for r in caplog.records if "Session termination failed" in r.getMessage()]
    assert not failures, failures
