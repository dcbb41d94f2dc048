"""submit_feedback / session_summary / report_session_summary: consent, scrubbing, the local
feedback.jsonl and the POST to a feedback URL (no prompt, no credential)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import Fake, image_workflow

import comfy_rs


class _Sink(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Sink.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_feedback_needs_consent_is_stored_and_posted_without_secrets(fake: Fake, tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = comfy_rs.AsyncClient(
            fake.url,
            data_dir=tmp_path,
            comfy_api_key="comfyui-py-secret",
            feedback_url=f"http://127.0.0.1:{server.server_address[1]}/fb",
        )
        job = await client.submit(image_workflow("feedbackprompt"))
        await job.wait()
        summary = client.session_summary()
        assert summary["jobs_submitted"] == 1 and summary["jobs_succeeded"] == 1
        with pytest.raises(comfy_rs.InvalidInput, match="consent"):
            await client.submit_feedback("nice")
        with pytest.raises(comfy_rs.InvalidInput, match="message"):
            await client.submit_feedback("see /home/me/a.png", consent=True)
        receipt = await client.submit_feedback("quick", consent=True, rating=5, category="praise")
        assert receipt["posted"] is True and receipt["stored"] == "file"
        receipt = await client.report_session_summary(consent=True)
        assert receipt["posted"] is True
        lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
        assert len(lines) == 2 and json.loads(lines[1])["summary"]["jobs_succeeded"] == 1
        assert len(_Sink.received) == 2
        for headers, body in _Sink.received:
            assert "authorization" not in headers and "x-api-key" not in headers
            assert b"feedbackprompt" not in body and b"comfyui-py-secret" not in body
    finally:
        server.shutdown()


def test_blocking_feedback_without_a_url_is_kept_in_memory(fake: Fake) -> None:
    client = comfy_rs.Client(fake.url)
    receipt = client.submit_feedback("works", consent=True)
    assert receipt["posted"] is False and receipt["stored"] == "memory"
    with pytest.raises(comfy_rs.InvalidInput):
        client.report_session_summary()
