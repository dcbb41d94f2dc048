"""Several named backends in one client (``backends=[...]``) against two comfy-fake processes:
pinning by name on submit and on job lookup, the backends listed by server_info, and a job lost
with its backend (stopped mid-run) that fails, or runs on the other with ``resubmit_if_lost``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import CKPT, Fake, image_workflow, sampler_workflow, start_fake

import comfy_rs


def fleet(a: Fake, b: Fake) -> list[dict[str, Any]]:
    return [
        {"name": "a", "kind": "local", "url": a.url},
        {"name": "b", "kind": "local", "url": b.url, "priority": 1},
    ]


def ran_on(f: Fake, job_id: str) -> bool:
    return job_id in f.get_json("/history")


async def test_a_pinned_job_runs_where_pinned_and_is_found_there(fake: Fake, slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(backends=fleet(fake, slow_fake), routing={"overflow_queue": 8})
    info = await client.server_info()
    assert [b["name"] for b in info["backends"]] == ["a", "b"]
    job = await client.run(image_workflow("pin-b"), backend="b")
    assert ran_on(slow_fake, job.id) and not ran_on(fake, job.id)
    assert (await client.job(job.id, backend="b")).id == job.id
    with pytest.raises(comfy_rs.NotFound):
        await client.job(job.id, backend="a")
    free = await client.run(image_workflow("free"))
    assert ran_on(fake, free.id), "priority 0 takes unpinned work"
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await client.submit(image_workflow("x"), backend="gpu9")
    assert e.value.code == "unknown_backend"


async def test_templates_and_batches_are_pinned_too(fake: Fake, slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(backends=fleet(fake, slow_fake), routing={"overflow_queue": 8})
    job = await client.generate_image("a cat", ckpt_name=CKPT, steps=1, backend="b")
    assert ran_on(slow_fake, job.id) and not ran_on(fake, job.id)
    status = await client.submit_batch(
        sampler_workflow(1, "pinned-batch"), seeds=[1, 2], backend="b", resubmit_if_lost=True
    )
    done = await client.wait_batch(status["batch_id"])
    ids = [item["job_id"] for item in done["items"]]
    assert len(ids) == 2 and all(ran_on(slow_fake, i) and not ran_on(fake, i) for i in ids)
    with pytest.raises(comfy_rs.InvalidInput):
        await client.submit_template("generate_image", prompt="x", ckpt_name=CKPT, backend="gpu9")


def test_a_bad_entry_names_the_entry_and_the_field(fake: Fake) -> None:
    with pytest.raises(comfy_rs.InvalidInput) as e:
        comfy_rs.Client(backends=[{"name": "a", "kind": "local"}])
    assert 'backends[0] ("a").url' in str(e.value)
    client = comfy_rs.Client(fake.url)
    job = client.run(image_workflow("one"), backend="local")
    assert job.status == "succeeded"


async def test_a_job_lost_with_its_backend_runs_elsewhere_only_when_allowed(fake: Fake) -> None:
    # Its own slow fake (the session ones are shared): stopped mid-run below.
    lost = start_fake("--full-catalog", "--step-delay-ms", "20", "--model-file", f"checkpoints={CKPT}")
    try:
        routing = {"overflow_queue": 8, "unreachable_after_ms": 300}
        client = comfy_rs.AsyncClient(backends=fleet(lost, fake), routing=routing)
        # Both go to a (priority 0), long enough to be stopped while there.
        kept = await client.submit(sampler_workflow(500, "kept"))
        moved = await client.submit(sampler_workflow(500, "moved", seed=2), resubmit_if_lost=True)
        for _ in range(1000):
            if kept.status == "running":
                break
            await asyncio.sleep(0.02)
        assert kept.status == "running"
        lost.stop()
        await kept.wait(60)
        assert kept.status == "failed" and kept.error is not None
        assert kept.error.code == "backend_lost" and "backend a" in kept.error.message
        await moved.wait(60)
        assert moved.status == "succeeded", moved.error
        assert ran_on(fake, moved.id) and not ran_on(fake, kept.id)
        assert (await client.job(moved.id, backend="b")).id == moved.id
    finally:
        lost.stop()
