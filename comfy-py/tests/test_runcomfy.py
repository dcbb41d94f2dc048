"""`backend="runcomfy"` against the fake RunComfy (`comfy-fake --runcomfy`): the same client, built
by the same core function as every other surface, plus the deployment operations."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CKPT, Fake, image_workflow, png_bytes, start_fake

import comfy_rs

TOKEN = "rc-fake-token"
DEPLOYMENT = "0d3e5a7c-0000-4000-8000-00000000d001"


@pytest.fixture(autouse=True)
def _no_url_opt_in_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's output CDN is on loopback, which clients refuse unless allowed: each test
    says how it allows it (the keyword, or the environment where it says so)."""
    monkeypatch.delenv("COMFY_ALLOW_PRIVATE_URLS", raising=False)


@pytest.fixture(scope="module")
def rc() -> Iterator[Fake]:
    f = start_fake("--runcomfy", "--full-catalog", "--step-delay-ms", "2", "--model-file", f"checkpoints={CKPT}")
    try:
        yield f
    finally:
        f.stop()


async def test_runcomfy_client_runs_uploads_and_downloads_without_leaking_the_token(rc: Fake) -> None:
    client = comfy_rs.AsyncClient(
        "http://127.0.0.1:1",  # unused on RunComfy
        backend="runcomfy",
        runcomfy_url=rc.url,
        runcomfy_token=TOKEN,
        runcomfy_deployment=DEPLOYMENT,
        allow_private_urls=True,
    )
    assert client.url == rc.url
    uploaded = await client.upload(png_bytes(5, 4), filename="py-rc.png")
    assert uploaded.startswith("runcomfy-input/") and len(uploaded) < 80, uploaded
    wf = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "py-rc/loaded"}},
    }
    job = await client.submit(wf)
    await job.wait(timeout=30)
    assert job.status == "succeeded", job.error
    assets = await job.assets()
    assert len(assets) == 1 and assets[0].url is not None and "/output/" in assets[0].url, assets
    data = await client.asset_bytes(assets[0])
    assert data[:4] == b"\x89PNG"
    fetched = await client.asset(assets[0].id)
    assert (fetched.width, fetched.height) == (5, 4)
    with urllib.request.urlopen(f"{rc.url}/__fake/cdn-log", timeout=10) as r:
        log = json.load(r)["requests"]
    assert log, "downloads go to the CDN host"
    for request in log:
        assert not request["refused"] and not {"authorization", "x-api-key", "cookie"} & set(request["headers"]), request


def test_deployment_operations(rc: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFY_ALLOW_PRIVATE_URLS", "true")  # the opt-in from the environment
    client = comfy_rs.Client(backend="runcomfy", runcomfy_url=rc.url, runcomfy_token=TOKEN, runcomfy_deployment=DEPLOYMENT)
    assert [d["id"] for d in client.list_deployments()] == [DEPLOYMENT]
    d = client.get_deployment(include_payload=True)
    assert d["payload"]["workflow_api_json"]["1"]["_meta"]["title"] == "Canvas", d
    created = client.create_deployment("py-dep", "w-1", "v1", hardware="AMPERE_24", max_instances=2)
    assert created["hardware"] == ["AMPERE_24"] and created["max_instances"] == 2, created
    with pytest.raises(comfy_rs.InvalidInput):
        client.create_deployment("bad", "w-1", "v1", hardware="H100")
    updated = client.update_deployment(created["id"], queue_size=3)
    assert (updated["name"], updated["queue_size"]) == ("py-dep", 3), updated
    assert client.delete_deployment(created["id"])["deleted"] is True
    assert [d["id"] for d in client.list_deployments([created["id"]])] == []
    job = client.submit(image_workflow("py-rc/sync")).wait(timeout=30)
    assert job.status == "succeeded", job.error
    with pytest.raises(comfy_rs.InvalidInput):
        client.submit_request({"Canvas.widht": 20})
    # A request with overrides is a job: recorded, its outputs assets with their hosted URLs.
    req = client.submit_request({"Canvas.width": 20}, webhook_url="https://hooks.example/py", webhook_intermediate_status=False)
    req = req.wait(timeout=30)
    assert req.status == "succeeded", req.error
    (asset,) = req.assets()
    assert asset.url is not None and "/output/" in asset.url, asset
    assert client.asset_bytes(asset)[:4] == b"\x89PNG"
    assert (client.asset(asset.id).width, client.job(req.id).status) == (20, "succeeded")
    local = comfy_rs.Client("http://127.0.0.1:1")
    with pytest.raises(comfy_rs.NotSupported):
        local.list_deployments()
    with pytest.raises(comfy_rs.InvalidInput):
        comfy_rs.Client(backend="runcomfy", runcomfy_url=rc.url)  # no token


def test_a_loopback_cdn_is_refused_unless_allowed(rc: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def client(**url_guard: Any) -> comfy_rs.Client:
        """A client on one shared store (each sees the others' assets)."""
        return comfy_rs.Client(
            backend="runcomfy", runcomfy_url=rc.url, runcomfy_token=TOKEN, runcomfy_deployment=DEPLOYMENT,
            data_dir=tmp_path, **url_guard,
        )

    def run(c: comfy_rs.Client, prefix: str) -> comfy_rs.Asset:
        job = c.submit(image_workflow(prefix)).wait(timeout=30)
        assert job.status == "succeeded", job.error
        assets = job.assets()
        assert assets and assets[0].url is not None, assets
        assert c.asset_bytes(assets[0])[:4] == b"\x89PNG"
        return assets[0]

    def refused(call: Callable[[], object]) -> None:
        with pytest.raises(comfy_rs.ComfyError) as e:
            call()
        assert e.value.code == "url_not_allowed", e.value
        assert "allow_private_urls" in str(e.value) and TOKEN not in str(e.value), e.value

    asset = run(client(allow_private_urls=True), "py-rc/opted-in")
    # Without the opt-in: the deployment's catalogue and the outputs are on the loopback CDN.
    closed = client()
    refused(lambda: closed.submit(image_workflow("py-rc/guarded")))
    refused(lambda: closed.asset_bytes(asset))
    # The environment is the fallback; an explicit False still wins over it.
    monkeypatch.setenv("COMFY_ALLOW_PRIVATE_URLS", "1")
    assert client().asset_bytes(asset)[:4] == b"\x89PNG"
    refused(lambda: client(allow_private_urls=False).asset_bytes(asset))
    monkeypatch.delenv("COMFY_ALLOW_PRIVATE_URLS")
    # The allow-list: the CDN's host and port, not another port.
    cdn = urllib.parse.urlsplit(asset.url or "")
    assert cdn.hostname == "127.0.0.1" and cdn.port not in (None, urllib.parse.urlsplit(rc.url).port), asset.url
    refused(lambda: client(allowed_url_hosts=[f"127.0.0.1:{(cdn.port or 0) + 1}"]).asset_bytes(asset))
    run(client(allowed_url_hosts=[cdn.netloc]), "py-rc/listed")
