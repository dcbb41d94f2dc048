"""Many concurrent jobs from one client: asyncio tasks, and threads on the blocking client."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import Fake, image_workflow, sampler_workflow

import comfy_rs


async def test_50_concurrent_jobs_from_one_async_client(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    async def one(i: int) -> tuple[str, list[comfy_rs.Asset], int]:
        wf = sampler_workflow(steps=3, prefix=f"many/{i}", seed=1000 + i) if i % 2 else image_workflow(f"many/{i}", width=8 + i)
        job = await client.submit(wf)
        updates = [e async for e in job.events()]
        assert updates[-1].kind == "finished"
        await job.wait(timeout=60)
        return job.status, await job.assets(), i

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert [s for s, _, _ in results] == ["succeeded"] * 50
    ids = [a.id for _, assets, _ in results for a in assets]
    assert len(ids) == len(set(ids)) == 25 * 1 + 25 * 2
    for _, assets, i in results:
        prefix = f"many/{i}"
        assert all(a.subfolder == "many" and (a.filename or "").startswith(f"{i}_") for a in assets if a.folder == "output"), prefix
    assert client.running_jobs == 0


def test_threads_share_one_blocking_client(fake: Fake) -> None:
    client = comfy_rs.Client(fake.url, max_running_jobs=16)

    def one(i: int) -> str:
        job = client.run(image_workflow(f"threads/{i}", width=10 + i))
        [saved] = [a for a in job.assets(fetch=True) if a.folder == "output"]
        assert saved.width == 10 + i
        return job.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(24))) == ["succeeded"] * 24


async def test_the_running_jobs_cap(slow_fake: Fake) -> None:
    client = comfy_rs.AsyncClient(slow_fake.url, max_running_jobs=1)
    first = await client.submit(sampler_workflow(steps=2000, prefix="cap", seed=31))
    with pytest.raises(comfy_rs.TooManyJobs) as e:
        await client.submit(image_workflow("cap-2"))
    assert e.value.code == "too_many_jobs" and e.value.retryable and e.value.details == {"running": 1, "limit": 1}
    await first.cancel()
    await first.wait(timeout=10)
    assert (await client.run(image_workflow("cap-3"))).status == "succeeded"
