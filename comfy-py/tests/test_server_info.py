"""server_info / billing_status against comfy-fake (a local ComfyUI: no billing)."""

from __future__ import annotations

import pytest
from conftest import Fake

import comfy_rs


async def test_server_info_describes_the_backend_without_secrets(fake: Fake) -> None:
    client = comfy_rs.AsyncClient(fake.url, comfy_api_key="comfyui-py-secret")
    info = await client.server_info()
    assert info["kind"] == "local"
    assert info["reachable"] is True
    assert isinstance(info["server_version"], str) and info["server_version"]
    assert info["auth"] == "not_configured"
    assert info["partner_nodes_key"] is True
    assert info["capabilities"]["cancel_running"] == "job"
    assert "comfyui-py-secret" not in repr(info)


async def test_billing_is_not_supported_on_a_local_comfyui(client: comfy_rs.AsyncClient) -> None:
    with pytest.raises(comfy_rs.NotSupported):
        await client.billing_status()


def test_blocking_server_info_reports_an_unreachable_server() -> None:
    client = comfy_rs.Client("http://127.0.0.1:9")
    info = client.server_info()
    assert info["reachable"] is False
    assert isinstance(info["unreachable"], str)
    with pytest.raises(comfy_rs.NotSupported):
        client.billing_status()


async def test_cql_answers_classes_and_paths_and_names_the_column_of_a_bad_query(
    client: comfy_rs.AsyncClient,
) -> None:
    found = await client.cql("produces IMAGE | NOT deprecated | sort connections | limit 3")
    assert len(found["classes"]) == 3 and found["total"] > 3
    assert all("IMAGE" in c["produces"] for c in found["classes"])
    paths = await client.cql("path MODEL -> IMAGE depth 2 | limit 2")
    assert paths["paths"][0]["length"] == 2
    assert paths["paths"][0]["steps"][0]["from"] == "MODEL"
    with pytest.raises(comfy_rs.InvalidInput) as bad:
        await client.cql("produces IMAGEE")
    assert bad.value.code == "invalid_query"
    assert "column 10" in str(bad.value) and "IMAGE" in str(bad.value)


def test_blocking_cql(blocking: comfy_rs.Client) -> None:
    assert blocking.cql("upstream KSampler | name CheckpointLoaderSimple")["classes"][0]["via"] == ["MODEL"]
