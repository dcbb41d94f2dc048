"""Batches: seeds under the running-jobs cap, outputs in item order, bad items, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Fake, image_workflow, sampler_workflow

import comfy_rs


async def test_a_batch_of_seeds_waits_for_the_cap_and_lists_outputs_in_order(fake: Fake) -> None:
    client = comfy_rs.AsyncClient(fake.url, max_running_jobs=1)
    status = await client.submit_batch(sampler_workflow(steps=20, prefix="pybatch"), seeds=[3, 4, 5])
    assert status["batch_id"].startswith("b_") and status["total"] == 3
    assert status["items"][2]["state"] == "waiting"
    done = await client.wait_batch(status["batch_id"], timeout=60)
    assert done["state"] == "succeeded" and done["counts"]["succeeded"] == 3 and done["fraction"] == 1.0
    outputs = await client.batch_outputs(status["batch_id"])
    assert [i["index"] for i in outputs["items"]] == [0, 1, 2]
    for item, seed in zip(outputs["items"], [3, 4, 5]):
        assert item["outputs"] and all(a["job_id"] == item["job_id"] for a in item["outputs"])
        job = await client.job(item["job_id"])
        assert job.status == "succeeded"
        data = await client.asset_bytes(item["outputs"][0]["asset_id"])
        assert data.startswith(b"\x89PNG")
        assert seed in (3, 4, 5)
    assert (await client.batch_status(status["batch_id"]))["state"] == "succeeded"


async def test_a_bad_item_raises_naming_it_and_nothing_runs(client: comfy_rs.AsyncClient) -> None:
    with pytest.raises(comfy_rs.InvalidInput) as bad:
        await client.submit_batch(image_workflow("pybad"), overrides=[{"1.width": 16}, {"1.widht": 16}])
    assert bad.value.code == "invalid_override" and str(bad.value).startswith("batch item 1: ")
    assert bad.value.details["item"] == 1
    assert client.running_jobs == 0
    with pytest.raises(comfy_rs.InvalidInput) as both:
        await client.submit_batch(image_workflow(), seeds=[1], count=2)
    assert both.value.code == "invalid_argument"
    with pytest.raises(comfy_rs.NotFound) as missing:
        await client.batch_status("b_nope")
    assert missing.value.code == "batch_not_found"


def test_a_blocking_batch_survives_a_new_client_on_the_same_data_dir(fake: Fake, tmp_path: Path) -> None:
    first = comfy_rs.Client(fake.url, data_dir=tmp_path, max_running_jobs=1)
    status = first.submit_batch(image_workflow("pyrestart"), overrides=[{"1.width": w} for w in (16, 24, 32)])
    batch_id = status["batch_id"]
    del first
    second = comfy_rs.Client(fake.url, data_dir=tmp_path, max_running_jobs=1)
    done = second.wait_batch(batch_id, timeout=60)
    assert done["state"] == "succeeded", done
    assert len({i["job_id"] for i in done["items"]}) == 3
    assert all(i["outputs"] for i in second.batch_outputs(batch_id)["items"])
