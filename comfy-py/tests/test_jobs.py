"""submit / status / events / wait / outputs / failures, against comfy-fake."""

from __future__ import annotations

import hashlib

import pytest
from conftest import Fake, image_workflow, sampler_workflow

import comfy_rs

TERMINAL = {"succeeded", "failed", "cancelled"}


async def test_submit_wait_and_every_output_matches_view(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    wf = image_workflow("outputs/batch", batch=3, width=40, height=30)
    wf["5"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "outputs/source"}}
    job = await client.submit(wf)
    assert isinstance(job.id, str) and job.id
    assert job.status in {"pending", "queued", "running", "succeeded"}
    assert await job.wait(timeout=30) is job
    assert job.status == "succeeded" and job.done and job.error is None and job.fraction == 1.0
    assets = await job.assets()
    # 3 saved + 3 saved sources + 3 temp previews (PreviewImage), every output of every node.
    assert sorted((a.node_id, a.folder) for a in assets) == sorted(
        [("3", "output")] * 3 + [("5", "output")] * 3 + [("4", "temp")] * 3
    )
    assert len({a.id for a in assets}) == 9
    for asset in assets:
        assert asset.job_id == job.id and asset.kind == "image" and asset.mime_type == "image/png"
        assert asset.filename and asset.subfolder is not None and asset.folder is not None
        data = await client.asset_bytes(asset)
        assert data == fake.view(asset.filename, asset.subfolder, asset.folder)
    fetched = {a.id: a for a in await job.assets()}
    for asset in assets:
        again = fetched[asset.id]
        data = await client.asset_bytes(asset.id)
        assert again.sha256 == hashlib.sha256(data).hexdigest()
        assert again.byte_size == len(data)
        assert (again.width, again.height) == (40, 30)


async def test_events_are_typed_ordered_and_end_with_finished(client: comfy_rs.AsyncClient) -> None:
    job = await client.submit(sampler_workflow(steps=12, prefix="events"))
    events = [e async for e in job.events()]
    kinds = [e.kind for e in events]
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    assert events[-1].status == "succeeded" and events[-1].fraction == 1.0
    assert set(kinds) <= {"queued", "running", "preview", "finished"}
    running = [e for e in events if e.kind == "running"]
    fractions = [e.fraction for e in running]
    assert all(f is not None for f in fractions)
    assert fractions == sorted(fractions), "fraction never goes backwards"
    sampler = [e for e in running if e.node_id == "3" and e.step is not None]
    assert sampler, kinds
    assert all(e.node_class == "KSampler" and e.max_steps == 12 for e in sampler)
    assert all(e.nodes_total == 7 for e in running if e.nodes_total)
    previews = [e for e in events if e.kind == "preview"]
    assert previews, "the fake sends a preview frame per sampler step"
    assert all(isinstance(e.preview, bytes) and e.preview and e.preview_mime in ("image/jpeg", "image/png") for e in previews)
    assert job.status == "succeeded"


async def test_events_of_a_finished_job_end_at_once(client: comfy_rs.AsyncClient) -> None:
    job = await client.run(image_workflow("done"))
    events = [e async for e in job.events()]
    assert [e.kind for e in events] == ["finished"]


def test_blocking_job_events_and_assets(blocking: comfy_rs.Client, fake: Fake) -> None:
    job = blocking.submit(sampler_workflow(steps=4, prefix="blocking"))
    kinds = [e.kind for e in job.events()]
    assert kinds[-1] == "finished"
    assert job.wait().status == "succeeded"
    [asset] = job.assets(fetch=True)
    assert asset.sha256 and asset.width == 64  # EmptyLatentImage width 64 decodes to 64 px, as in ComfyUI
    assert blocking.asset_bytes(asset) == fake.view(asset.filename or "", asset.subfolder or "", "output")


async def test_failure_details(client: comfy_rs.AsyncClient) -> None:
    wf = image_workflow("../outside")
    job = await client.submit(wf)
    await job.wait(timeout=30)
    assert job.status == "failed"
    error = job.error
    assert error is not None
    assert error.node_id == "3"
    assert error.node_class == "SaveImage"
    assert error.exception_type == "Exception"
    assert "outside the output folder" in error.message
    assert error.traceback
    assert "SaveImage" in str(error)
    events = [e async for e in job.events()]
    assert events[-1].kind == "finished" and events[-1].status == "failed"
    with pytest.raises(comfy_rs.JobFailed) as e:
        await client.run(wf)
    assert e.value.code == "job_failed"
    assert e.value.error is not None and e.value.error.node_id == "3"
    assert e.value.job.status == "failed"


def test_blocking_run_raises_job_failed(blocking: comfy_rs.Client) -> None:
    with pytest.raises(comfy_rs.JobFailed) as e:
        blocking.run(image_workflow("../../x"))
    assert e.value.error is not None and e.value.error.node_class == "SaveImage"


async def test_invalid_workflows_are_refused_before_submission(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    before = len(fake.get_json("/history"))
    wf = sampler_workflow(steps=0)
    wf["3"]["inputs"]["scheduler"] = "nope"
    with pytest.raises(comfy_rs.ValidationError) as e:
        await client.submit(wf)
    assert e.value.code == "validation_failed"
    assert {(p.node_id, p.input) for p in e.value.problems if p.severity == "error"} == {("3", "steps"), ("3", "scheduler")}
    assert isinstance(e.value, comfy_rs.InvalidInput) and isinstance(e.value, ValueError)
    assert len(fake.get_json("/history")) == before


async def test_job_lookup_by_id(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    job = await client.run(image_workflow("lookup"))
    again = await client.job(job.id)
    assert again == job and again.status == "succeeded"
    other = comfy_rs.AsyncClient(fake.url)
    adopted = await (await other.job(job.id)).wait(timeout=30)
    assert adopted.status == "succeeded"
    with pytest.raises(comfy_rs.NotFound) as e:
        await client.job("no-such-job")
    assert e.value.code == "job_not_found"
    with pytest.raises(comfy_rs.NotFound):
        await client.asset("a_nope")


async def test_wait_timeout_returns_the_running_job(client: comfy_rs.AsyncClient) -> None:
    job = await client.submit(sampler_workflow(steps=150, prefix="slowish"))
    assert (await job.wait(timeout=0.05)).status not in TERMINAL
    assert not job.done
    assert (await job.wait(timeout=60)).status == "succeeded"
