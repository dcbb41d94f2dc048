"""`comfy-mcp --backend runcomfy` against the fake RunComfy (`comfy-fake --runcomfy`), through the
official Python MCP client: every output with its hosted URL, upload → use, chaining an output
into the next request, cancel in each outcome (both answer shapes), reattach after `kill -9`
(request id and URLs persisted, also for submit_request), RunComfy's own tools, and no token
ever reaching the CDN."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import signal
import sqlite3
import struct
import subprocess
import tempfile
import time
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

TOKEN = "rc-fake-token"
DEPLOYMENT = "0d3e5a7c-0000-4000-8000-00000000d001"


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def rc() -> Iterator[harness.Fake]:
    with harness.fake_server(
        "--runcomfy", "--full-catalog", "--step-delay-ms", "5", "--model-file", f"checkpoints={CKPT}"
    ) as f:
        yield f


def rc_env(url: str, data_dir: str) -> dict[str, str]:
    # A ComfyUI URL left in the environment is unused on RunComfy, never an error.
    env = harness.server_env("http://127.0.0.1:1", data_dir)
    env.update({
        "COMFY_MCP_BACKEND": "runcomfy",
        "RUNCOMFY_API_URL": url,
        "RUNCOMFY_API_TOKEN": TOKEN,
        "RUNCOMFY_DEPLOYMENT_ID": DEPLOYMENT,
        # The fake's CDN is on loopback, refused unless the operator allows private targets.
        "COMFY_ALLOW_PRIVATE_URLS": "true",
    })
    return env


@contextlib.asynccontextmanager
async def rc_session(url: str) -> AsyncIterator[ClientSession]:
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "w") as errlog:
        params = harness.StdioServerParameters(command=harness.binary("COMFY_MCP_BIN"), args=[], env=rc_env(url, data))
        async with harness.stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def start_rc_http(url: str, data_dir: str) -> harness.HttpServer:
    """comfy-mcp --transport http on RunComfy with its store in `data_dir` (kept across restarts)."""
    log = pathlib.Path(data_dir) / f"stderr-{time.monotonic_ns()}.log"
    with open(log, "wb") as err:
        p = subprocess.Popen(
            [harness.binary("COMFY_MCP_BIN"), "--transport", "http", "--listen", "127.0.0.1:0", "--token", harness.TOKEN,
             "--log-format", "json", "--rate-limit", "100000"],
            env=rc_env(url, data_dir),
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


def hook(rc: harness.Fake, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{rc.url}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.load(r))


def cdn_log(rc: harness.Fake) -> list[dict[str, Any]]:
    return list(hook(rc, "/__fake/cdn-log")["requests"])


async def wait_status(session: ClientSession, job_id: str, done: set[str], timeout: float = 30) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while (st := structured(await session.call_tool("get_job_status", {"job_id": job_id})))["status"] not in done:
            await anyio.sleep(0.05)
    return st


async def test_every_output_with_its_url_and_no_token_on_the_cdn(rc: harness.Fake) -> None:
    async with rc_session(rc.url) as session:
        wf = image_workflow("rc/every")
        wf["3"] = {"class_type": "EmptyImage", "inputs": {"width": 24, "height": 16, "batch_size": 2, "color": 255}}
        wf["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "rc/second"}}
        wf["5"] = {"class_type": "EmptyAudio", "inputs": {"duration": 0.5, "sample_rate": 8000, "channels": 1}}
        wf["6"] = {"class_type": "SaveAudio", "inputs": {"audio": ["5", 0], "filename_prefix": "rc/audio"}}
        wf["7"] = {"class_type": "PrimitiveString", "inputs": {"value": "hello from runcomfy"}}
        wf["8"] = {"class_type": "PreviewAny", "inputs": {"source": ["7", 0]}}
        s = structured(await session.call_tool("submit_workflow", {"workflow": wf, "wait": True}))
        assert s["status"] == "succeeded", s
        outputs = s["outputs"]
        files = [o for o in outputs if o["kind"] != "text"]
        assert len(files) == 4, s  # 1 image from node 2, 2 from node 4, 1 audio
        for o in files:
            assert o["url"].startswith("http://") and "/output/" in o["url"], o
            assert o["expires_at"] - o["created_at"] >= 6 * 24 * 3600 * 1000, o  # RunComfy keeps outputs 7 days
        assert any(o.get("text") == "hello from runcomfy" for o in outputs), outputs
        seen = set()
        for o in files:
            if o["kind"] != "image":
                continue
            r = await session.call_tool("view_image", {"asset_id": o["asset_id"]})
            v = structured(r)
            seen.add((v["original_width"], v["original_height"]))
            blob = (await session.read_resource(o["uri"])).contents[0]
            assert base64.b64decode(blob.blob)[:4] == b"\x89PNG"
        assert seen == {(32, 32), (24, 16)}, seen
    log = cdn_log(rc)
    assert any(r["path"].startswith("/output/") for r in log), log
    for request in log:
        assert not request["refused"], request
        assert not {"x-api-key", "authorization", "cookie"} & set(request["headers"]), request


async def test_upload_then_use_and_chain_a_previous_output(rc: harness.Fake) -> None:
    async with rc_session(rc.url) as session:
        up = structured(await session.call_tool("upload_file", {"filename": "rc-in.png", "data": base64.b64encode(png(3, 2)).decode()}))
        name = up["input_name"]
        assert name.startswith("runcomfy-input/") and len(name) < 80, up  # a short reference, not a data URI
        load = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rc/loaded"}},
        }
        s = structured(await session.call_tool("submit_workflow", {"workflow": load, "wait": True}))
        assert s["status"] == "succeeded", s
        first = s["outputs"][0]["asset_id"]
        v = structured(await session.call_tool("view_image", {"asset_id": first}))
        assert (v["original_width"], v["original_height"]) == (3, 2), v

        prev = structured(await session.call_tool("use_previous_output", {"asset_id": first}))
        assert prev["input_name"].startswith("runcomfy-input/") and len(json.dumps(prev)) < 2000, prev
        chained = {
            "1": {"class_type": "LoadImage", "inputs": {"image": prev["input_name"]}},
            "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "width": 12, "height": 8, "crop": "disabled"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "rc/chained"}},
        }
        s = structured(await session.call_tool("submit_workflow", {"workflow": chained, "wait": True}))
        assert s["status"] == "succeeded", s
        v = structured(await session.call_tool("view_image", {"asset_id": s["outputs"][0]["asset_id"]}))
        assert (v["original_width"], v["original_height"]) == (12, 8), v


async def test_cancel_in_each_outcome(rc: harness.Fake) -> None:
    async with rc_session(rc.url) as session:
        hook(rc, "/__fake/script", {"cancel_shape": "outcome"})
        # Running: interrupted.
        s = structured(await session.call_tool("run_workflow", {"name": "generate_image", "params": generate_args(steps=4000), "wait": False}))
        running = s["job_id"]
        await wait_status(session, running, {"running"})
        # Queued behind it: removed from the queue.
        q = structured(await session.call_tool("submit_workflow", {"workflow": image_workflow("rc/queued"), "wait": False}))
        queue = structured(await session.call_tool("get_queue", {}))
        assert [e["job_id"] for e in queue["pending"]] == [q["job_id"]], queue
        assert [e["job_id"] for e in queue["running"]] == [running], queue
        c = structured(await session.call_tool("cancel_job", {"job_id": q["job_id"]}))
        assert c["outcome"] == "removed_from_queue", c
        c = structured(await session.call_tool("cancel_job", {"job_id": running}))
        assert c["outcome"] == "interrupted", c
        st = await wait_status(session, running, {"cancelled", "failed", "succeeded"})
        assert st["status"] == "cancelled", st
        # Finished: nothing to cancel (RunComfy says not_cancellable).
        c = structured(await session.call_tool("cancel_job", {"job_id": running}))
        assert c["outcome"] == "already_finished", c
        r = structured(await session.call_tool("cancel_request", {"request_id": running}))
        assert r["outcome"] == "not_cancellable", r
        # The earlier answer shape: only requested; polled to the end.
        hook(rc, "/__fake/script", {"cancel_shape": "requested", "canceled_spelling": True})
        try:
            s = structured(await session.call_tool("run_workflow", {"name": "generate_image", "params": generate_args(steps=4001), "wait": False}))
            job = s["job_id"]
            await wait_status(session, job, {"running"})
            r = structured(await session.call_tool("cancel_request", {"request_id": job}))
            assert r["outcome"] == "cancel_requested" and r["answer"]["status"] == "cancellation_requested", r
            st = await wait_status(session, job, {"cancelled", "failed", "succeeded"})
            assert st["status"] == "cancelled", st
        finally:
            hook(rc, "/__fake/script", {"cancel_shape": "outcome", "canceled_spelling": False})
        done = structured(await session.call_tool("submit_workflow", {"workflow": image_workflow("rc/after"), "wait": True}))
        assert done["status"] == "succeeded", done


async def test_reattach_after_kill_9(rc: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as data:
        first = start_rc_http(rc.url, data)
        try:
            async with harness.http_session(first) as session:
                # Long enough (about 10 s) to be seen running at RunComfy's 3 s poll interval.
                s = structured(await session.call_tool("run_workflow", {"name": "generate_image", "params": generate_args(steps=2000), "wait": False}))
                job_id = s["job_id"]
                await wait_status(session, job_id, {"running"})
        finally:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
        # The request id and its URLs were recorded with the job.
        with contextlib.closing(sqlite3.connect(pathlib.Path(data) / "comfy.sqlite3")) as db:
            (handle,) = db.execute("SELECT handle FROM jobs WHERE id = ?", (job_id,)).fetchone()
        handle = json.loads(handle)
        assert handle["request_id"] == job_id and handle["deployment_id"] == DEPLOYMENT, handle
        assert handle["status_url"].endswith(f"/requests/{job_id}/status") and "result_url" in handle, handle
        second = start_rc_http(rc.url, data)
        try:
            async with harness.http_session(second) as session:
                st = await wait_status(session, job_id, {"succeeded", "failed", "cancelled"}, timeout=60)
                assert st["status"] == "succeeded", st
                out = structured(await session.call_tool("get_output", {"job_id": job_id}))
                assert len(out["outputs"]) == 1 and out["outputs"][0]["url"], out
                v = structured(await session.call_tool("view_image", {"asset_id": out["outputs"][0]["asset_id"]}))
                assert v["original_width"] > 0 and v["original_height"] > 0, v
        finally:
            second.stop()


async def test_submit_request_survives_kill_9(rc: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as data:
        first = start_rc_http(rc.url, data)
        hook(rc, "/__fake/script", {"hold": True})
        try:
            async with harness.http_session(first) as session:
                s = structured(await session.call_tool("submit_request", {"overrides": {"Canvas.width": 20, "Canvas.batch_size": 2}}))
                request_id = s["request_id"]
                assert s["job_id"] == request_id, s
                st = structured(await session.call_tool("get_job_status", {"job_id": request_id}))
                assert st["status"] in {"queued", "running"}, st
        finally:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            hook(rc, "/__fake/script", {"hold": False})
        with contextlib.closing(sqlite3.connect(pathlib.Path(data) / "comfy.sqlite3")) as db:
            (handle,) = db.execute("SELECT handle FROM jobs WHERE id = ?", (request_id,)).fetchone()
        assert json.loads(handle)["deployment_id"] == DEPLOYMENT, handle
        second = start_rc_http(rc.url, data)
        try:
            async with harness.http_session(second) as session:
                st = await wait_status(session, request_id, {"succeeded", "failed", "cancelled"}, timeout=60)
                assert st["status"] == "succeeded", st
                res = structured(await session.call_tool("get_request_result", {"request_id": request_id}))
                assert res["status"] == "succeeded" and len(res["output_urls"]) == 2, res
                out = structured(await session.call_tool("get_output", {"job_id": request_id}))
                assert len(out["outputs"]) == 2, out
                assert sorted(o["url"] for o in out["outputs"]) == sorted(u["url"] for u in res["output_urls"]), (out, res)
                for o in out["outputs"]:
                    assert o["url"].startswith("http://") and "/output/" in o["url"], o
                    v = structured(await session.call_tool("view_image", {"asset_id": o["asset_id"]}))
                    assert (v["original_width"], v["original_height"]) == (20, 8), v
        finally:
            second.stop()


async def test_runcomfy_tools(rc: harness.Fake) -> None:
    async with rc_session(rc.url) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"list_deployments", "submit_request", "delete_deployment", "instance_proxy"} <= names
        d = structured(await session.call_tool("get_deployment", {"include_payload": True}))
        titles = {n.get("title") for n in d["payload_summary"]["nodes"]}
        assert "Canvas" in titles, d
        r = await session.call_tool("submit_request", {"overrides": {"Canvas.wdth": 20}})
        assert r.is_error and r.structured_content["code"] == "invalid_override", r.structured_content
        s = structured(await session.call_tool("submit_request", {"overrides": {"Canvas.width": 20}, "wait": True}))
        assert s["result"]["status"] == "succeeded", s
        res = structured(await session.call_tool("get_request_result", {"request_id": s["request_id"]}))
        assert res["output_urls"][0]["url"] == s["result"]["output_urls"][0]["url"], res
        r = await session.call_tool("delete_deployment", {"deployment_id": DEPLOYMENT, "confirm": "yes"})
        assert r.is_error and r.structured_content["field"] == "confirm", r.structured_content
        # What RunComfy lacks answers not_supported with the reason.
        r = await session.call_tool("list_models", {"folder": "checkpoints"})
        assert r.is_error and r.structured_content["code"] == "not_supported" and "RunComfy" in r.structured_content["message"]


def test_cli_verbs_take_the_same_backend_options(rc: harness.Fake) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wf = pathlib.Path(tmp) / "wf.json"
        wf.write_text(json.dumps(image_workflow("rc/cli")))
        env = rc_env(rc.url, tmp)
        del env["RUNCOMFY_API_TOKEN"]
        base = [harness.binary("COMFY_MCP_BIN"), "--backend", "runcomfy", "--runcomfy-url", rc.url, "--runcomfy-deployment", DEPLOYMENT]
        v = subprocess.run([*base, "--runcomfy-token", TOKEN, "validate", str(wf)], env=env, capture_output=True, timeout=60)
        assert v.returncode == 0, v.stderr.decode()
        out = pathlib.Path(tmp) / "out"
        r = subprocess.run([*base, "run", str(wf), "--out", str(out), "--quiet"], env={**env, "RUNCOMFY_API_TOKEN": TOKEN}, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        saved = list(out.iterdir())
        assert len(saved) == 1 and saved[0].read_bytes()[:4] == b"\x89PNG", saved
        e = subprocess.run([*base, "validate", str(wf)], env=env, capture_output=True, timeout=60)
        assert e.returncode == 2 and b"RUNCOMFY_API_TOKEN" in e.stderr, e.stderr.decode()
        p = subprocess.run([*base, "--runcomfy-token", TOKEN, "--print-config"], env=env, capture_output=True, timeout=60)
        assert p.returncode == 0 and TOKEN.encode() not in p.stdout and b'runcomfy_token = "***"' in p.stdout, p.stdout
