"""`partner_generate`: a partner (paid API) node workflow from the live catalogue, priced from
its price badge, run only with spending consent — on the fake Comfy Cloud (price badges) and on
the fake local ComfyUI (a Comfy API key needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Fake, png_bytes, start_fake

import comfy_rs

CLOUD_KEY = "comfyui-fake-cloud-key"


@pytest.fixture(scope="module")
def cloud() -> Iterator[Fake]:
    f = start_fake("--cloud", "--full-catalog")
    try:
        yield f
    finally:
        f.stop()


async def test_cloud_quotes_refuses_without_consent_and_runs_with_it(cloud: Fake) -> None:
    client = comfy_rs.AsyncClient(backend="comfy-cloud", cloud_url=cloud.url, cloud_api_key=CLOUD_KEY)
    quote = await client.partner_generate("image", "flux-ultra", "a lighthouse", aspect_ratio="1:1", dry_run=True)
    assert quote["job"] is None
    q = quote["quote"]
    assert q["class_type"] == "FluxProUltraImageNode"
    assert q["price"] == {"kind": "known", "min_usd": 0.06, "max_usd": 0.06, "min_credits": 12.66, "max_credits": 12.66}
    assert q["workflow"]["1"]["inputs"]["aspect_ratio"] == "1:1"
    assert not q["consent"]

    with pytest.raises(comfy_rs.InvalidInput) as refused:
        await client.partner_generate("image", "flux-ultra", "a lighthouse")
    assert refused.value.code == "spending_consent_required" and not refused.value.retryable
    with pytest.raises(comfy_rs.InvalidInput) as above:
        await client.partner_generate("image", "flux-ultra", "a lighthouse", max_credits=12)
    assert above.value.code == "price_above_max_credits"
    assert above.value.details["credits"] == 12.66 and above.value.details["max_credits"] == 12

    ran = await client.partner_generate("image", "flux-ultra", "a lighthouse", max_credits=13)
    job = ran["job"]
    assert isinstance(job, comfy_rs.AsyncJob)
    await job.wait(timeout=30)
    assert job.status == "succeeded", job.error
    assert len(await job.assets()) == 1

    with pytest.raises(comfy_rs.InvalidInput) as unknown:
        await client.partner_generate("video", "T2V-01-Directr", "waves")
    assert unknown.value.code == "unknown_partner_model"
    assert "T2V-01-Director" in unknown.value.details["suggestions"]


def test_local_needs_a_partner_key_and_runs_with_media(fake: Fake) -> None:
    no_key = comfy_rs.Client(fake.url, allow_partner_spend=True, comfy_api_key="")
    with pytest.raises(comfy_rs.ComfyError) as missing:
        no_key.partner_generate("image", "flux-ultra", "x")
    assert missing.value.code == "partner_key_missing"

    client = comfy_rs.Client(fake.url, allow_partner_spend=True, comfy_api_key="comfyui-test-key")
    name = client.upload(png_bytes(6, 6), filename="partner-ref.png")
    ran = client.partner_generate("image", "OpenAIGPTImage1", "make it blue", media=[name])
    assert ran["quote"]["price"]["kind"] == "unknown"  # ComfyUI 0.3.75 has no price badges
    assert ran["quote"]["workflow"]["2"] == {"class_type": "LoadImage", "inputs": {"image": name}}
    job = ran["job"]
    assert isinstance(job, comfy_rs.Job)
    job.wait(timeout=30)
    assert job.status == "succeeded", job.error
