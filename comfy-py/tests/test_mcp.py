"""The embedded MCP server, answering the official `mcp` Python client (mcp==2.3.0) over
streamable HTTP and over stdio, with the embedding client's own store."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx2
import pytest
from conftest import Fake, image_workflow, mcp_binary
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import comfy_rs

TOKEN = "py-embedded-token"


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result
    data = result.structured_content
    assert isinstance(data, dict), result
    return data


async def test_http_server_answers_the_official_client(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    server = await comfy_rs.serve_mcp(client, listen="127.0.0.1:0", token=TOKEN)
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/mcp")
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http:
            async with streamable_http_client(server.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    info = await session.initialize()
                    assert info.server_info.name == "comfy-mcp"
                    names = {t.name for t in (await session.list_tools()).tools}
                    assert {"validate_workflow", "submit_workflow", "generate_image"} <= names
                    checked = structured(await session.call_tool("validate_workflow", {"workflow": image_workflow("mcp")}))
                    assert checked["valid"] is True
                    done = structured(await session.call_tool("submit_workflow", {"workflow": image_workflow("mcp"), "wait": True}))
        job_id = done["job_id"]
        # The server runs on this client: the job is this client's, with its assets.
        job = await client.job(job_id)
        assert job.status == "succeeded" and len(await job.assets()) == 2
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0)) as anonymous:
            r = await anonymous.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert r.status_code == 401
    finally:
        await server.close()
    with pytest.raises(Exception):
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(2.0)) as late:
            await late.post(server.url, json={})


async def test_http_server_as_context_manager_and_bad_transport(blocking: comfy_rs.Client) -> None:
    async with await comfy_rs.serve_mcp(blocking) as server:
        assert "McpServer(url=" in repr(server)
    with pytest.raises(ValueError, match="serve_mcp_stdio"):
        await comfy_rs.serve_mcp(blocking, transport="stdio")
    with pytest.raises(RuntimeError, match="token"):
        await comfy_rs.serve_mcp(blocking, listen="0.0.0.0:0")
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await comfy_rs.serve_mcp(blocking, tool_profile="tiny")  # type: ignore[arg-type]
    assert e.value.code == "invalid_argument", e.value
    assert all(word in str(e.value) for word in ("tool_profile", "tiny", '"full"', '"minimal"')), e.value
    with pytest.raises(comfy_rs.InvalidInput, match="tool_profile"):
        comfy_rs.serve_mcp_stdio(blocking, tool_profile="everything")  # type: ignore[arg-type]


async def http_tool_names(server: comfy_rs.McpServer) -> set[str]:
    """The names tools/list answers over the embedded server's streamable HTTP."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(60.0)) as http:
        async with streamable_http_client(server.url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return {t.name for t in (await session.list_tools()).tools}


async def test_minimal_tool_profile_lists_what_the_cli_lists(client: comfy_rs.AsyncClient, fake: Fake, tmp_path: Any) -> None:
    async with await comfy_rs.serve_mcp(client, tool_profile="minimal") as server:
        minimal = await http_tool_names(server)
    async with await comfy_rs.serve_mcp(client, tool_profile="full") as server:
        full = await http_tool_names(server)
    # The same profile of the comfy-mcp binary, over stdio: the set is comfy-mcp's, not a copy.
    env = {"PATH": os.environ.get("PATH", ""), "COMFYUI_URL": fake.url, "COMFY_MCP_DATA_DIR": str(tmp_path)}
    params = StdioServerParameters(command=mcp_binary(), args=["--tool-profile", "minimal"], env=env)
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                cli = {t.name for t in (await session.list_tools()).tools}
    assert minimal == cli, (minimal, cli)
    assert "run_workflow" in minimal and minimal < full and len(minimal) < len(full) // 3, (minimal, full)


async def test_stdio_server_answers_the_official_client(fake: Fake) -> None:
    script = "import sys, comfy_rs; comfy_rs.serve_mcp_stdio(comfy_rs.Client(sys.argv[1]))"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "HOME")}
    params = StdioServerParameters(command=sys.executable, args=["-c", script, fake.url], env=env)
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                r = structured(await session.call_tool("validate_workflow", {"workflow": {"1": {"class_type": "EmptyImag", "inputs": {}}}}))
                assert r["valid"] is False
                assert any(p["code"] == "unknown_class" for p in r["problems"]), json.dumps(r)
