"""The stdio server writes nothing but JSON-RPC on stdout (logs go to stderr)."""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
import time

from harness import Fake, binary, image_workflow, server_env


def test_stdout_holds_only_json_rpc(fake: Fake) -> None:
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "submit_workflow", "arguments": {"workflow": image_workflow("raw"), "wait": True},
            "_meta": {"progressToken": "p1"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_job_status", "arguments": {"job_id": "nope"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "no/such/method"},
        {"jsonrpc": "2.0", "id": 6, "method": "resources/read", "params": {"uri": "comfy://jobs/nope"}},
    ]
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryFile() as stderr:
        p = subprocess.Popen(
            [binary("COMFY_MCP_BIN")],
            env=server_env(fake.url, data, COMFY_MCP_LOG="debug"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert p.stdin is not None and p.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in p.stdout], daemon=True).start()  # type: ignore[union-attr]
        try:
            answers: dict[int, dict] = {}
            notifications: list[dict] = []
            raw: list[bytes] = []

            def read_until(ids: set[int]) -> None:
                deadline = time.monotonic() + 30
                while not ids <= answers.keys():
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                    raw.append(line)
                    v = json.loads(line)  # every line is JSON...
                    assert v["jsonrpc"] == "2.0", line  # ...and JSON-RPC
                    if "id" in v:
                        answers[v["id"]] = v
                    else:
                        notifications.append(v)

            def send(m: dict | str) -> None:
                p.stdin.write((m if isinstance(m, str) else json.dumps(m)).encode() + b"\n")  # type: ignore[union-attr]
                p.stdin.flush()  # type: ignore[union-attr]

            send(messages[0])
            read_until({1})
            for m in messages[1:]:
                send(m)
            send("{not json at all")
            read_until({1, 2, 3, 4, 5, 6})
            p.stdin.close()
            assert p.wait(timeout=20) == 0
            for line in p.stdout.read().splitlines():  # anything left is JSON-RPC too
                assert json.loads(line)["jsonrpc"] == "2.0", line
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        stderr.seek(0)
        logs = stderr.read()
    assert answers[1]["result"]["serverInfo"]["name"] == "comfy-mcp"
    assert len(answers[2]["result"]["tools"]) >= 18
    assert answers[3]["result"]["structuredContent"]["status"] == "succeeded", answers[3]
    progress = [n["params"] for n in notifications if n["method"] == "notifications/progress"]
    assert progress and all(p["progressToken"] == "p1" for p in progress), notifications
    assert progress[-1]["progress"] == 100, progress
    assert {n["method"] for n in notifications} <= {"notifications/progress", "notifications/tools/list_changed"}, notifications
    assert answers[4]["result"]["isError"] is True
    assert answers[4]["result"]["structuredContent"]["code"] == "job_not_found"
    assert answers[5]["error"]["code"] == -32601
    assert "error" in answers[6] or answers[6]["result"]["contents"]
    assert b"tools/call" in logs, "logs go to stderr"
