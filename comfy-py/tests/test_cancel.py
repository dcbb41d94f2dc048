"""Cancelling: a running job (interrupted by its id), a queued one (dequeued), and asyncio
cancellation of a call (the Rust future is dropped; the event loop is never blocked)."""

from __future__ import annotations

import asyncio
import time

from conftest import Fake, image_workflow, sampler_workflow

import comfy_rs
from comfy_rs import _native


async def test_cancel_a_running_job(slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(slow_fake.url)
    job = await client.submit(sampler_workflow(steps=2000, prefix="cancel-running"))
    async for event in job.events():
        if event.kind == "running" and event.step is not None:
            break
    assert job.status == "running"
    started = time.monotonic()
    outcome = await job.cancel()
    assert outcome in ("interrupted", "interrupt_requested")
    await job.wait(timeout=10)
    assert job.status == "cancelled"
    assert time.monotonic() - started < 5
    assert job.error is None
    assert await job.cancel() == "already_finished"
    messages = slow_fake.get_json(f"/history/{job.id}")[job.id]["status"]["messages"]
    assert "execution_interrupted" in [m[0] for m in messages], "the server interrupted this very job"


async def test_cancel_a_queued_job(slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(slow_fake.url)
    first = await client.submit(sampler_workflow(steps=2000, prefix="cancel-first", seed=11))
    second = await client.submit(image_workflow("cancel-second"))
    assert await second.cancel() == "removed_from_queue"
    assert second.status == "cancelled"
    await first.cancel()
    await first.wait(timeout=10)
    assert first.status == "cancelled"
    queue = await client.queue()
    assert second.id not in queue["pending"] and first.id not in queue["running"]


def test_blocking_cancel(slow_fake: Fake) -> None:
    client = comfy_rs.Client(slow_fake.url)
    job = client.submit(sampler_workflow(steps=2000, prefix="cancel-blocking", seed=12))
    assert job.wait(timeout=0.3).status in ("queued", "running")
    job.cancel()
    assert job.wait(timeout=10).status == "cancelled"
    assert client.running_jobs == 0


async def test_cancelling_the_task_drops_the_rust_future(slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(slow_fake.url)
    job = await client.submit(sampler_workflow(steps=2000, prefix="cancel-task", seed=13))
    base = _native._in_flight()
    waiter = asyncio.create_task(job.wait())
    events = asyncio.create_task(anext(job.events()))
    await asyncio.sleep(0.1)
    assert _native._in_flight() >= base + 1
    waiter.cancel()
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    await events
    deadline = time.monotonic() + 5
    while _native._in_flight() > base and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert _native._in_flight() == base, "the Rust future behind the cancelled task was dropped"
    assert job.status not in ("succeeded", "failed", "cancelled"), "cancelling a wait does not cancel the job"
    with_timeout = asyncio.wait_for(job.wait(), timeout=0.05)
    try:
        await with_timeout
    except asyncio.TimeoutError:
        pass
    await job.cancel()
    await job.wait(timeout=10)
    assert job.status == "cancelled"


async def test_the_event_loop_keeps_running_while_calls_wait(slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(slow_fake.url)
    job = await client.submit(sampler_workflow(steps=25, prefix="loop-free", seed=14))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    t = asyncio.create_task(ticker())
    await job.wait(timeout=30)
    t.cancel()
    assert job.status == "succeeded"
    assert ticks >= 20, f"the loop ticked only {ticks} times while the job ran"
