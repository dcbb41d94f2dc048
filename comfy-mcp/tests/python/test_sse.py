"""The legacy HTTP+SSE transport (2024-11-05) with the official client, `mcp.client.sse`:
GET /sse, then JSON-RPC POSTs to the endpoint it names, answers on the event stream."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from harness import TOKEN, HttpServer, image_workflow, structured
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client


@pytest.mark.anyio
async def test_the_official_sse_client_lists_and_calls_tools(http_server: HttpServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    list_changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            list_changed.set()

    async with sse_client(f"{http_server.base}/sse", headers=headers) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            init = await session.initialize()
            assert init.server_info.name == "comfy-mcp"
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"get_queue", "submit_workflow", "get_job_status"} <= names, names
            queue = structured(await session.call_tool("get_queue", {}))
            assert "ours_active" in queue, queue
            done = structured(
                await session.call_tool("submit_workflow", {"workflow": image_workflow("sse"), "wait": True})
            )
            assert done["status"] == "succeeded", done
            # The new asset is announced (notifications/resources/list_changed) and listed.
            with anyio.fail_after(20):
                await list_changed.wait()
            resources = await session.list_resources()
            assert any(str(r.uri).startswith("comfy://assets/") for r in resources.resources)


def test_sse_needs_the_token(http_server: HttpServer) -> None:
    r = httpx.get(f"{http_server.base}/sse", timeout=10)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(
        f"{http_server.base}/messages?sessionId=nope",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert r.status_code == 404
    assert r.json()["error"] == "session_not_found"
