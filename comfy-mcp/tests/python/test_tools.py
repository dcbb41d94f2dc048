"""The real comfy-mcp binary through the official Python MCP client, over stdio and streamable
HTTP (bearer token), against comfy-fake."""

from __future__ import annotations

import base64
import json

import anyio
import pytest
from harness import CKPT, generate_args, image_workflow, structured

pytestmark = pytest.mark.anyio

EXPECTED_TOOLS = {
    "submit_workflow", "get_job_status", "get_output", "cancel_job", "get_queue", "validate_workflow",
    "list_workflows", "run_workflow", "list_assets", "get_asset_metadata", "list_models", "search_models",
    "search_nodes", "get_node_info", "generate_image", "image_to_image", "inpaint", "upscale",
    "wait_for_job", "get_server_info", "cql", "submit_feedback", "report_session_summary",
}


async def test_initialize_and_tools_list(connect) -> None:
    async with connect() as session:
        info = session.initialize_result
        assert info is not None and info.server_info.name == "comfy-mcp"
        assert info.capabilities.tools is not None and info.capabilities.resources is not None
        tools = (await session.list_tools()).tools
        names = {t.name for t in tools}
        assert EXPECTED_TOOLS <= names, EXPECTED_TOOLS - names
        for t in tools:
            assert t.description, t.name
            assert t.input_schema.get("type") == "object", t.name
            # No output schemas (optional in MCP, and ~300 bytes a tool): results are objects in
            # structuredContent all the same.
            assert t.output_schema is None, t.name
            a = t.annotations
            assert a is not None, t.name
            # Hints equal to MCP's defaults are left out (readOnly false, destructive true,
            # idempotent false); every tool says it is not open-world.
            assert a.open_world_hint is False, t.name
        by_name = {t.name: t for t in tools}
        assert by_name["get_queue"].annotations.read_only_hint is True
        cancel = by_name["cancel_job"].annotations
        assert not cancel.read_only_hint and cancel.destructive_hint in (None, True), cancel
        submit = by_name["submit_workflow"].annotations
        assert not submit.read_only_hint and submit.destructive_hint is False, submit
        assert "workflow" in by_name["submit_workflow"].input_schema["required"]
        assert "job_id" in by_name["get_job_status"].input_schema["properties"]


async def test_submit_wait_status_output_assets_and_resources(connect) -> None:
    async with connect() as session:
        r = await session.call_tool("submit_workflow", {"workflow": image_workflow("pytest/submit"), "wait": True})
        s = structured(r)
        assert s["status"] == "succeeded", s
        outputs = s["outputs"]
        assert len(outputs) == 1 and outputs[0]["uri"].startswith("comfy://assets/"), s
        links = [c for c in r.content if c.type == "resource_link"]
        assert [link.uri for link in links] == [outputs[0]["uri"]]
        job_id = s["job_id"]

        status = structured(await session.call_tool("get_job_status", {"job_id": job_id}))
        assert status["status"] == "succeeded" and status["job_id"] == job_id
        out = structured(await session.call_tool("get_output", {"job_id": job_id}))
        assert out["outputs"] == outputs

        listed = structured(await session.call_tool("list_assets", {"job_id": job_id}))
        assert [a["asset_id"] for a in listed["assets"]] == [outputs[0]["asset_id"]]
        latest = structured(await session.call_tool("list_assets", {"limit": 1}))
        assert len(latest["assets"]) == 1

        job = await session.read_resource(f"comfy://jobs/{job_id}")
        body = json.loads(job.contents[0].text)
        assert body["status"] == "succeeded" and body["job_id"] == job_id
        asset = await session.read_resource(outputs[0]["uri"])
        blob = asset.contents[0]
        assert blob.mime_type == "image/png"
        assert base64.b64decode(blob.blob)[:4] == b"\x89PNG"


async def test_progress_notifications_reach_the_callback(connect) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect() as session:
        r = await session.call_tool("generate_image", generate_args(steps=12), progress_callback=on_progress)
        s = structured(r)
        assert s["status"] == "succeeded", s
        assert s["params"]["steps"] == 12 and isinstance(s["params"]["seed"], int), s
    assert len(seen) >= 3, seen
    values = [p for p, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values), f"strictly increasing: {seen}"
    assert all(total == 100 for _, total, _ in seen), seen
    assert any(m and "step" in m and "/12" in m for _, _, m in seen), seen
    assert values[-1] == 100, seen


async def test_wait_for_job_server_info_billing_and_cql(connect) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with connect() as session:
        args = {"name": "generate_image", "params": generate_args(steps=8), "wait": False}
        submitted = structured(await session.call_tool("run_workflow", args))
        job_id = submitted["job_id"]
        r = await session.call_tool("wait_for_job", {"job_id": job_id, "timeout": 30}, progress_callback=on_progress)
        s = structured(r)
        assert s["status"] == "succeeded" and s["job_id"] == job_id, s
        assert s["outputs"] and [c for c in r.content if c.type == "resource_link"], s
        info = structured(await session.call_tool("get_server_info", {}))
        assert info["kind"] == "local" and info["reachable"] is True, info
        # A local ComfyUI has no account: no billing tool (nor partner_generate without a key).
        names = {t.name for t in (await session.list_tools()).tools}
        assert "get_billing_status" not in names and "partner_generate" not in names, names
        found = structured(await session.call_tool("cql", {"query": "produces IMAGE | NOT api | sort name | limit 5"}))
        assert len(found["classes"]) == 5 and found["total"] > 5, found
        bad = await session.call_tool("cql", {"query": "produces IMAGE | sort size"})
        e = bad.structured_content
        assert bad.is_error is True and e["code"] == "invalid_query" and e["field"] == "query", e
        assert "column 23" in e["message"] and "sort key" in e["expected"], e
    assert seen and seen == sorted(seen) and seen[-1] == 100, seen


async def test_validate_workflow_reports_each_problem(connect) -> None:
    bad = {
        "1": {"class_type": "EmptyImag", "inputs": {}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    async with connect() as session:
        ok = structured(await session.call_tool("validate_workflow", {"workflow": image_workflow("v")}))
        assert ok["valid"] is True
        r = structured(await session.call_tool("validate_workflow", {"workflow": bad}))
        assert r["valid"] is False and r["errors"] >= 3, r
        problems = r["problems"]
        unknown = next(p for p in problems if p["code"] == "unknown_class")
        assert unknown["node_id"] == "1" and "EmptyImage" in unknown["suggestions"], unknown
        assert any(p["code"] == "value_smaller_than_min" and p["node_id"] == "2" and p["input"] == "width" for p in problems), r
        assert any(p["code"] == "required_input_missing" and p["input"] == "filename_prefix" for p in problems), r


async def test_cancel_a_running_job(connect) -> None:
    async with connect() as session:
        args = {"name": "generate_image", "params": generate_args(steps=4000), "wait": False}
        s = structured(await session.call_tool("run_workflow", args))
        job_id = s["job_id"]
        with anyio.fail_after(20):
            while structured(await session.call_tool("get_job_status", {"job_id": job_id}))["status"] != "running":
                await anyio.sleep(0.02)
        c = structured(await session.call_tool("cancel_job", {"job_id": job_id}))
        assert c["outcome"] in ("interrupted", "removed_from_queue"), c
        with anyio.fail_after(20):
            while (st := structured(await session.call_tool("get_job_status", {"job_id": job_id})))["status"] == "running":
                await anyio.sleep(0.02)
        assert st["status"] == "cancelled", st
        again = structured(await session.call_tool("cancel_job", {"job_id": job_id}))
        assert again["outcome"] == "already_finished", again
        # The fake is free again: a new job runs to the end.
        done = structured(await session.call_tool("submit_workflow", {"workflow": image_workflow("after"), "wait": True}))
        assert done["status"] == "succeeded", done


async def test_tool_errors_are_results_with_a_code(connect) -> None:
    async with connect() as session:
        r = await session.call_tool("get_job_status", {"job_id": "no-such-job"})
        assert r.is_error is True
        e = r.structured_content
        assert e["code"] == "job_not_found" and e["retryable"] is False and "no-such-job" in e["message"], e
        assert json.loads(r.content[0].text) == e
        r = await session.call_tool("generate_image", {"prompt": "x", "ckpt_name": CKPT, "stpes": 3})
        assert r.is_error is True
        e = r.structured_content
        assert e["code"] == "invalid_argument" and "did you mean steps" in e["message"], e
        r = await session.call_tool("submit_workflow", {"workflow": {"1": {"class_type": "Nope", "inputs": {}}}})
        assert r.is_error is True
        e = r.structured_content
        assert e["code"] == "validation_failed" and e["field"] == "workflow" and e["details"]["problems"], e
        # The session is still usable.
        q = structured(await session.call_tool("get_queue", {}))
        assert isinstance(q["pending"], list)
