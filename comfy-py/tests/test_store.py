"""The ``store`` option: an SQLite file shared by two clients, and a PostgreSQL URL reaching the
core's PostgreSQL store (a database that is down is a retryable StoreError on first use, with
the password never shown). Runs on one PostgreSQL are in comfy-core's store_postgres tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import comfy_rs
from conftest import Fake, image_workflow


def test_a_store_file_is_shared_by_two_clients(fake: Fake, tmp_path: Path) -> None:
    location = f"sqlite://{tmp_path / 'shared.sqlite3'}"
    first = comfy_rs.Client(fake.url, store=location)
    job = first.submit(image_workflow("store"))
    job.wait()
    recorded = first.assets(job_id=job.id)
    assert recorded, "the job's outputs are recorded"
    second = comfy_rs.Client(fake.url, store=location)
    assert [a.id for a in second.assets(job_id=job.id)] == [a.id for a in recorded]
    assert comfy_rs.Client(fake.url).assets(job_id=job.id) == [], "a client without the store has none"
    assert (tmp_path / "shared.sqlite3").is_file()


def test_a_postgres_url_uses_the_postgres_store(fake: Fake) -> None:
    client = comfy_rs.Client(fake.url, store="postgres://comfy:pg-secret@127.0.0.1:1/comfy")
    with pytest.raises(comfy_rs.StoreError) as raised:
        client.assets()
    assert raised.value.code == "store_error"
    assert raised.value.retryable
    assert "pg-secret" not in str(raised.value)


def test_an_unknown_store_scheme_is_refused() -> None:
    with pytest.raises(comfy_rs.ComfyError) as raised:
        comfy_rs.Client("http://127.0.0.1:9", store="mysql://db/x")
    assert raised.value.code == "invalid_argument"
    assert "store" in str(raised.value)


def test_handing_work_over_is_a_no_op_without_a_shared_store(fake: Fake) -> None:
    client = comfy_rs.Client(fake.url)
    assert client.take_over_orphans() == []
    assert client.retire() is None


async def test_handing_work_over_goes_to_the_shared_store(fake: Fake) -> None:
    client = comfy_rs.AsyncClient(fake.url, store="postgres://comfy:pg-secret@127.0.0.1:1/comfy")
    with pytest.raises(comfy_rs.StoreError) as raised:
        await client.take_over_orphans()
    assert raised.value.retryable and "pg-secret" not in str(raised.value)
    with pytest.raises(comfy_rs.StoreError):
        await client.retire()
