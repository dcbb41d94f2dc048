"""`backend="comfy-cloud"` against the fake Comfy Cloud (`comfy-fake --cloud`): the same client,
built by the same core function as every other surface."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CKPT, Fake, image_workflow, png_bytes, start_fake

import comfy_rs

CLOUD_KEY = "comfyui-fake-cloud-key"


@pytest.fixture(autouse=True)
def _no_url_opt_in_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's storage host is on loopback, which clients refuse unless allowed: each test
    says how it allows it (the keyword, or the environment where it says so)."""
    monkeypatch.delenv("COMFY_ALLOW_PRIVATE_URLS", raising=False)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Fake]:
    f = start_fake("--cloud", "--full-catalog", "--step-delay-ms", "2", "--model-file", f"checkpoints={CKPT}")
    try:
        yield f
    finally:
        f.stop()


async def test_cloud_client_runs_uploads_and_downloads_without_leaking_the_key(cloud: Fake) -> None:
    client = comfy_rs.AsyncClient(
        "http://127.0.0.1:1",  # unused on Cloud
        backend="comfy-cloud",
        cloud_url=cloud.url,
        cloud_api_key=CLOUD_KEY,
        allow_private_urls=True,
    )
    assert client.url == cloud.url
    uploaded = await client.upload(png_bytes(5, 4), filename="py-cloud.png")
    wf = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "py-cloud/loaded"}},
    }
    job = await client.submit(wf)
    await job.wait(timeout=30)
    assert job.status == "succeeded", job.error
    assets = await job.assets()
    assert len(assets) == 1
    data = await client.asset_bytes(assets[0])
    assert data[:4] == b"\x89PNG"
    fetched = await client.asset(assets[0].id)
    assert (fetched.width, fetched.height) == (5, 4)

    job = await client.submit(image_workflow("py-cloud/batch", batch=2))
    await job.wait(timeout=30)
    assert job.status == "succeeded" and len(await job.assets()) == 4  # 2 saved + 2 previews

    with urllib.request.urlopen(f"{cloud.url}/__fake/storage-log", timeout=10) as r:
        log = json.load(r)["requests"]
    assert log, "downloads go through the storage host"
    for request in log:
        assert not request["refused"] and not {"x-api-key", "authorization", "cookie"} & set(request["headers"]), request


def test_cloud_needs_a_key_and_a_known_backend(cloud: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COMFY_CLOUD_API_KEY", raising=False)
    with pytest.raises(comfy_rs.ComfyError) as e:
        comfy_rs.Client(backend="comfy-cloud", cloud_url=cloud.url)
    assert e.value.code == "invalid_argument" and "COMFY_CLOUD_API_KEY" in str(e.value)
    with pytest.raises(comfy_rs.ComfyError) as e:
        comfy_rs.Client(backend="runpod")  # type: ignore[arg-type]
    assert e.value.code == "invalid_argument" and "comfy-cloud" in str(e.value)
    with pytest.raises(comfy_rs.ComfyError) as e:
        comfy_rs.Client(ca_cert="/no/such/ca.pem")
    assert "/no/such/ca.pem" in str(e.value)
    # The key from the environment; blocking client.
    monkeypatch.setenv("COMFY_CLOUD_API_KEY", CLOUD_KEY)
    blocking = comfy_rs.Client(backend="comfy-cloud", cloud_url=cloud.url, data_dir=tmp_path)
    job = blocking.submit(image_workflow("py-cloud/blocking"))
    job.wait(timeout=30)
    assert job.status == "succeeded"
    # Its outputs come from the storage host on loopback: refused without the opt-in...
    with pytest.raises(comfy_rs.ComfyError) as e:
        blocking.asset_bytes(job.assets()[0])
    assert e.value.code == "url_not_allowed" and "allow_private_urls" in str(e.value), e.value
    assert CLOUD_KEY not in str(e.value)
    # ... read with it from the environment.
    monkeypatch.setenv("COMFY_ALLOW_PRIVATE_URLS", "1")
    opted_in = comfy_rs.Client(backend="comfy-cloud", cloud_url=cloud.url, data_dir=tmp_path)
    assert opted_in.asset_bytes(job.assets()[0])[:4] == b"\x89PNG"
