"""The real-ComfyUI pytest tier: COMFYUI_E2E_URL (set by scripts/test.sh) is required."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "python"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def comfyui_url() -> str:
    url = os.environ.get("COMFYUI_E2E_URL")
    if not url:
        raise RuntimeError("COMFYUI_E2E_URL is not set: run through scripts/test.sh, which starts a real ComfyUI")
    return url
