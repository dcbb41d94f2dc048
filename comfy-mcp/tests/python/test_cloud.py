"""`comfy-mcp --backend comfy-cloud` against the fake Comfy Cloud (`comfy-fake --cloud`), through
the official Python MCP client: upload → use, chaining, every output, view_image, cancel,
reattach after `kill -9`, and no credential ever reaching the storage host."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
import struct
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import harness
import pytest
from harness import CKPT, generate_args, image_workflow, structured
from mcp.client.session import ClientSession

pytestmark = pytest.mark.anyio

CLOUD_KEY = "comfyui-fake-cloud-key"


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def cloud() -> Iterator[harness.Fake]:
    with harness.fake_server(
        "--cloud", "--full-catalog", "--step-delay-ms", "5", "--model-file", f"checkpoints={CKPT}"
    ) as f:
        yield f


def cloud_env(cloud_url: str, data_dir: str) -> dict[str, str]:
    # A ComfyUI URL left in the environment is unused on Cloud, never an error.
    env = harness.server_env("http://127.0.0.1:1", data_dir)
    env.update({"COMFY_MCP_BACKEND": "comfy-cloud", "COMFY_CLOUD_URL": cloud_url, "COMFY_CLOUD_API_KEY": CLOUD_KEY})
    # The fake's storage is on loopback, refused unless the operator allows private targets.
    env["COMFY_ALLOW_PRIVATE_URLS"] = "true"
    return env


@contextlib.asynccontextmanager
async def cloud_session(cloud_url: str) -> AsyncIterator[ClientSession]:
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "w") as errlog:
        params = harness.StdioServerParameters(command=harness.binary("COMFY_MCP_BIN"), args=[], env=cloud_env(cloud_url, data))
        async with harness.stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def start_cloud_http(cloud_url: str, data_dir: str) -> harness.HttpServer:
    """comfy-mcp --transport http on Cloud with its store in `data_dir` (kept across restarts)."""
    log = pathlib.Path(data_dir) / f"stderr-{time.monotonic_ns()}.log"
    with open(log, "wb") as err:
        p = subprocess.Popen(
            [harness.binary("COMFY_MCP_BIN"), "--transport", "http", "--listen", "127.0.0.1:0", "--token", harness.TOKEN,
             "--log-format", "json", "--rate-limit", "100000"],
            env=cloud_env(cloud_url, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if m := harness.ADDRESS.search(text):
            return harness.HttpServer(base=f"http://{m.group(1)}", process=p, data=tempfile.TemporaryDirectory(), log=log)
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    raise RuntimeError(f"comfy-mcp HTTP did not report its address: {log.read_text(errors='replace')}")


def storage_log(cloud: harness.Fake) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{cloud.url}/__fake/storage-log", timeout=10) as r:
        return list(json.load(r)["requests"])


async def wait_status(session: ClientSession, job_id: str, done: set[str], timeout: float = 30) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while (st := structured(await session.call_tool("get_job_status", {"job_id": job_id})))["status"] not in done:
            await anyio.sleep(0.05)
    return st


async def test_run_every_output_view_image_and_no_key_on_storage(cloud: harness.Fake) -> None:
    async with cloud_session(cloud.url) as session:
        wf = image_workflow("cloud/every")
        wf["3"] = {"class_type": "EmptyImage", "inputs": {"width": 24, "height": 16, "batch_size": 2, "color": 255}}
        wf["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "cloud/second"}}
        s = structured(await session.call_tool("submit_workflow", {"workflow": wf, "wait": True}))
        assert s["status"] == "succeeded", s
        outputs = s["outputs"]
        assert len(outputs) == 3, s  # 1 image from node 2, a batch of 2 from node 4
        out = structured(await session.call_tool("get_output", {"job_id": s["job_id"]}))
        assert out["outputs"] == outputs
        seen = set()
        for o in outputs:
            r = await session.call_tool("view_image", {"asset_id": o["asset_id"]})
            v = structured(r)
            seen.add((v["original_width"], v["original_height"]))
            assert any(c.type == "image" for c in r.content), r
            blob = (await session.read_resource(o["uri"])).contents[0]
            assert base64.b64decode(blob.blob)[:4] == b"\x89PNG"
        assert seen == {(32, 32), (24, 16)}, seen
    log = storage_log(cloud)
    assert log, "outputs are downloaded from the storage host the Cloud redirects to"
    for request in log:
        assert not request["refused"], request
        assert not {"x-api-key", "authorization", "cookie"} & set(request["headers"]), request


async def test_upload_then_use_and_chain_a_previous_output(cloud: harness.Fake) -> None:
    async with cloud_session(cloud.url) as session:
        up = structured(await session.call_tool("upload_file", {"filename": "cloud-in.png", "data": base64.b64encode(png(3, 2)).decode()}))
        name = up["input_name"]
        load = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cloud/loaded"}},
        }
        s = structured(await session.call_tool("submit_workflow", {"workflow": load, "wait": True}))
        assert s["status"] == "succeeded", s
        first = s["outputs"][0]["asset_id"]
        v = structured(await session.call_tool("view_image", {"asset_id": first}))
        assert (v["original_width"], v["original_height"]) == (3, 2), v

        prev = structured(await session.call_tool("use_previous_output", {"asset_id": first, "subfolder": "chain"}))
        chained = {
            "1": {"class_type": "LoadImage", "inputs": {"image": prev["input_name"]}},
            "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "width": 12, "height": 8, "crop": "disabled"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "cloud/chained"}},
        }
        s = structured(await session.call_tool("submit_workflow", {"workflow": chained, "wait": True}))
        assert s["status"] == "succeeded", s
        v = structured(await session.call_tool("view_image", {"asset_id": s["outputs"][0]["asset_id"]}))
        assert (v["original_width"], v["original_height"]) == (12, 8), v


async def test_cancel_a_running_cloud_job(cloud: harness.Fake) -> None:
    async with cloud_session(cloud.url) as session:
        s = structured(await session.call_tool("run_workflow", {"name": "generate_image", "params": generate_args(steps=4000), "wait": False}))
        job_id = s["job_id"]
        await wait_status(session, job_id, {"running"})
        c = structured(await session.call_tool("cancel_job", {"job_id": job_id}))
        assert c["outcome"] in ("interrupted", "cancel_requested", "removed_from_queue"), c
        st = await wait_status(session, job_id, {"cancelled", "failed", "succeeded"})
        assert st["status"] == "cancelled", st
        done = structured(await session.call_tool("submit_workflow", {"workflow": image_workflow("cloud/after"), "wait": True}))
        assert done["status"] == "succeeded", done


async def test_reattach_after_kill_9(cloud: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as data:
        first = start_cloud_http(cloud.url, data)
        try:
            async with harness.http_session(first) as session:
                s = structured(await session.call_tool("run_workflow", {"name": "generate_image", "params": generate_args(steps=300), "wait": False}))
                job_id = s["job_id"]
                await wait_status(session, job_id, {"running"})
        finally:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
        second = start_cloud_http(cloud.url, data)
        try:
            async with harness.http_session(second) as session:
                st = await wait_status(session, job_id, {"succeeded", "failed", "cancelled"})
                assert st["status"] == "succeeded", st
                out = structured(await session.call_tool("get_output", {"job_id": job_id}))
                assert len(out["outputs"]) == 1, out
                v = structured(await session.call_tool("view_image", {"asset_id": out["outputs"][0]["asset_id"]}))
                assert v["original_width"] > 0 and v["original_height"] > 0 and v["mime_type"] == "image/jpeg", v
        finally:
            second.stop()


async def test_errors_and_what_cloud_lacks(cloud: harness.Fake) -> None:
    async with cloud_session(cloud.url) as session:
        r = await session.call_tool("get_job_status", {"job_id": "no-such-job"})
        assert r.is_error and r.structured_content["code"] == "job_not_found", r.structured_content
        q = structured(await session.call_tool("get_queue", {}))
        assert isinstance(q["pending"], list)
        models = structured(await session.call_tool("list_models", {"folder": "checkpoints"}))
        assert CKPT in json.dumps(models), models
        # The official template gallery is served by a local ComfyUI only: not_supported, named.
        for tool, args in (("search_templates", {"query": "flux"}), ("get_template", {"name": "default"})):
            r = await session.call_tool(tool, args)
            assert r.is_error, (tool, r.structured_content)
            e = r.structured_content
            assert e["code"] == "not_supported" and e["retryable"] is False and "official workflow templates" in e["message"], e
            # The reason says why and what to use instead.
            assert "Comfy Cloud has no official template gallery API" in e["message"], e
            assert "built-in templates or your saved workflows" in e["message"], e


async def test_partner_generate_needs_spending_consent(cloud: harness.Fake) -> None:
    async with cloud_session(cloud.url) as session:
        base = {"type": "image", "model": "flux-ultra", "prompt": "a lighthouse"}
        q = structured(await session.call_tool("partner_generate", {**base, "dry_run": True}))
        assert q["quote"]["class_type"] == "FluxProUltraImageNode" and "job" not in q, q
        assert q["quote"]["price"]["max_credits"] == 12.66 and q["quote"]["price_text"] == "$0.06 (12.66 credits)", q
        r = await session.call_tool("partner_generate", base)
        assert r.is_error and r.structured_content["code"] == "spending_consent_required", r.structured_content
        assert "12.66 credits" in r.structured_content["message"], r.structured_content
        r = await session.call_tool("partner_generate", {**base, "max_credits": 1})
        assert r.is_error and r.structured_content["code"] == "price_above_max_credits", r.structured_content
        s = structured(await session.call_tool("partner_generate", {**base, "max_credits": 20, "wait": True}))
        assert s["job"]["status"] == "succeeded" and len(s["job"]["outputs"]) == 1, s
        v = await session.call_tool("view_image", {"asset_id": s["job"]["outputs"][0]["asset_id"]})
        assert not v.is_error and any(c.type == "image" for c in v.content), v


async def test_keep_outputs_copies_every_output(cloud: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as kept, open(os.devnull, "w") as errlog:
        env = cloud_env(cloud.url, data)
        env["COMFY_MCP_KEEP_OUTPUTS"] = kept
        params = harness.StdioServerParameters(command=harness.binary("COMFY_MCP_BIN"), args=[], env=env)
        async with harness.stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                wf = image_workflow("cloud/kept")
                wf["2"]["inputs"]["images"] = ["3", 0]
                wf["3"] = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 7}}
                s = structured(await session.call_tool("submit_workflow", {"workflow": wf, "wait": True}))
                assert s["status"] == "succeeded" and len(s["outputs"]) == 2, s
                for o in s["outputs"]:
                    copy = pathlib.Path(kept) / o["asset_id"]
                    assert copy.read_bytes()[:4] == b"\x89PNG", copy
                    v = structured(await session.call_tool("view_image", {"asset_id": o["asset_id"]}))
                    assert (v["original_width"], v["original_height"]) == (8, 8), v


def test_cli_verbs_take_the_same_backend_options(cloud: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wf = pathlib.Path(tmp) / "wf.json"
        wf.write_text(json.dumps(image_workflow("cloud/cli")))
        env = cloud_env(cloud.url, tmp)
        del env["COMFY_CLOUD_API_KEY"]
        base = [harness.binary("COMFY_MCP_BIN"), "--backend", "comfy-cloud", "--cloud-url", cloud.url]
        v = subprocess.run([*base, "--cloud-api-key", CLOUD_KEY, "validate", str(wf)], env=env, capture_output=True, timeout=60)
        assert v.returncode == 0, v.stderr.decode()
        out = pathlib.Path(tmp) / "out"
        r = subprocess.run([*base, "run", str(wf), "--out", str(out), "--quiet"], env={**env, "COMFY_CLOUD_API_KEY": CLOUD_KEY}, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        saved = list(out.iterdir())
        assert len(saved) == 1 and saved[0].read_bytes()[:4] == b"\x89PNG", saved
        # Without a key: a usage error naming where the key comes from, never a crash.
        e = subprocess.run([*base, "validate", str(wf)], env=env, capture_output=True, timeout=60)
        assert e.returncode == 2 and b"COMFY_CLOUD_API_KEY" in e.stderr, e.stderr.decode()
        # --print-config masks the key.
        p = subprocess.run([*base, "--cloud-api-key", CLOUD_KEY, "--print-config"], env=env, capture_output=True, timeout=60)
        assert p.returncode == 0 and CLOUD_KEY.encode() not in p.stdout and b'cloud_api_key = "***"' in p.stdout, p.stdout
