"""The real comfy-mcp binary, over stdio with the official Python MCP client, on a real ComfyUI."""

from __future__ import annotations

import base64

import pytest
from harness import stdio_session, structured

pytestmark = pytest.mark.anyio


async def test_generate_image_on_the_tiny_checkpoint(comfyui_url: str) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with stdio_session(comfyui_url, COMFY_MCP_WAIT_BUDGET_SECS="170") as session:
        models = structured(await session.call_tool("list_models", {"folder": "checkpoints"}))
        assert "tiny_sd15.safetensors" in models["models"], models
        args = {"prompt": "a red fox", "ckpt_name": "tiny_sd15.safetensors", "steps": 3, "width": 64, "height": 64, "seed": 7}
        s = structured(await session.call_tool("generate_image", args, read_timeout_seconds=180, progress_callback=on_progress))
        assert s["status"] == "succeeded", s
        assert s["params"]["seed"] == 7, s
        assert any(m and "(KSampler), step " in m for _, m in seen), seen
        assert [p for p, _ in seen] == sorted(p for p, _ in seen) and seen[-1][0] == 100, seen
        asset = s["outputs"][0]
        png = base64.b64decode((await session.read_resource(asset["uri"])).contents[0].blob)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 64
        meta = structured(await session.call_tool("get_asset_metadata", {"asset_id": asset["asset_id"]}))
        assert meta["provenance"]["template"] == "generate_image" and meta["provenance"]["params"]["prompt"] == "a red fox", meta
