"""The blocking client: works outside an event loop, refuses (clearly) inside one, works from a
worker thread of a running loop, and releases the GIL while it waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import Fake, image_workflow, sampler_workflow

import comfy_rs


def test_outside_a_loop(blocking: comfy_rs.Client) -> None:
    job = blocking.run(image_workflow("outside-loop"))
    assert job.status == "succeeded" and len(job.assets()) == 2


async def test_inside_a_running_loop_it_raises_instead_of_stalling(blocking: comfy_rs.Client) -> None:
    for call in (
        lambda: blocking.validate(image_workflow()),
        lambda: blocking.submit(image_workflow()),
        lambda: blocking.queue(),
    ):
        with pytest.raises(RuntimeError, match="AsyncClient"):
            call()
    # A job handle of the blocking client refuses too.
    job = await asyncio.to_thread(blocking.submit, image_workflow("in-thread"))
    with pytest.raises(RuntimeError, match="event loop"):
        job.wait()
    # From a worker thread of the running loop it works.
    assert (await asyncio.to_thread(job.wait)).status == "succeeded"


def test_inside_asyncio_run(blocking: comfy_rs.Client) -> None:
    async def main() -> str:
        try:
            blocking.validate(image_workflow())
        except RuntimeError as e:
            return str(e)
        return "no error"

    assert "asyncio event loop" in asyncio.run(main())
    assert blocking.validate(image_workflow()) == []  # and fine again once the loop is gone


def test_the_gil_is_released_while_waiting(slow_fake: Fake) -> None:
    client = comfy_rs.Client(slow_fake.url)
    job = client.submit(sampler_workflow(steps=30, prefix="gil", seed=21))
    counted = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal counted
        while not stop.is_set():
            counted += 1

    t = threading.Thread(target=count)
    t.start()
    started = time.monotonic()
    job.wait(timeout=30)
    waited = time.monotonic() - started
    stop.set()
    t.join()
    assert job.status == "succeeded"
    assert waited > 0.3
    assert counted > 100_000, f"a Python thread ran only {counted} iterations while the client waited"


def test_async_client_methods_need_a_running_loop(fake: Fake) -> None:
    client = comfy_rs.AsyncClient(fake.url)
    coro = client.validate(image_workflow())
    with pytest.raises(RuntimeError, match="no running event loop"):
        coro.send(None)
    coro.close()
    assert asyncio.run(client.validate(image_workflow())) == []
