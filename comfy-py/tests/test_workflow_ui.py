"""comfy_rs.Workflow, ui_to_api and api_to_ui (editor format) against a node catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import fixtures_dir, image_workflow

import comfy_rs

GOLDEN = ["basic_image", "default_graph", "mute_and_bypass", "primitive_reroute_note", "subgraph", "widgets_control_upload_dynamic"]


def object_info() -> dict[str, object]:
    data: dict[str, object] = json.loads((fixtures_dir() / "http" / "object_info_full.json").read_text())
    return data


@pytest.mark.parametrize("name", GOLDEN)
def test_ui_to_api_gives_the_editor_s_prompt(name: str) -> None:
    ui = fixtures_dir() / "ui_to_api" / f"{name}.workflow.json"
    expected = json.loads((fixtures_dir() / "ui_to_api" / f"{name}.prompt.json").read_text())
    api = comfy_rs.ui_to_api(ui, fixtures_dir() / "http" / "object_info_full.json")
    assert comfy_rs.Workflow.from_json(api).canonical_hash() == comfy_rs.Workflow.from_json(expected).canonical_hash()


def test_ui_to_api_takes_dicts_text_and_paths() -> None:
    ui = fixtures_dir() / "ui_to_api" / "basic_image.workflow.json"
    info = object_info()
    results = [comfy_rs.ui_to_api(form, info) for form in (str(ui), json.loads(ui.read_text()), ui.read_text())]
    assert results[0] == results[1] == results[2]
    assert comfy_rs.ui_to_api(results[0], json.dumps(info)) == results[0], "an API workflow passes through"


def test_api_to_ui_round_trips(tmp_path: Path) -> None:
    info = object_info()
    api = image_workflow("roundtrip")
    ui = comfy_rs.api_to_ui(api, info)
    assert isinstance(ui["nodes"], list) and len(ui["nodes"]) == 4
    back = comfy_rs.ui_to_api(ui, info)
    assert comfy_rs.Workflow.from_json(back).canonical_hash() == comfy_rs.Workflow.from_json(api).canonical_hash()
    info_path = tmp_path / "object_info.json"
    info_path.write_text(json.dumps(info))
    assert comfy_rs.api_to_ui(comfy_rs.Workflow.from_json(api), info_path)["nodes"] == ui["nodes"]


def test_ui_to_api_errors_are_typed() -> None:
    ui = json.loads((fixtures_dir() / "ui_to_api" / "basic_image.workflow.json").read_text())
    ui["nodes"][1]["type"] = "MissingNode"
    with pytest.raises(comfy_rs.InvalidInput) as e:
        comfy_rs.ui_to_api(ui, object_info())
    assert e.value.code == "unknown_node_classes" and e.value.details["classes"] == ["MissingNode"]


def test_workflow_object(tmp_path: Path) -> None:
    text = '{"2": {"inputs": {"images": ["1", 0], "filename_prefix": "w"}, "class_type": "SaveImage", "_meta": {"title": "Out"}},\n "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}'
    wf = comfy_rs.Workflow.from_json(text)
    assert json.loads(wf.to_json()) == json.loads(text), "parse → serialize is lossless"
    assert wf.to_json().index('"inputs"') < wf.to_json().index('"class_type"'), "key order is kept"
    assert len(wf) == 2
    assert [(n.id, n.class_type, n.title) for n in wf.nodes()] == [("2", "SaveImage", "Out"), ("1", "EmptyImage", None)]
    assert wf.nodes()[0].inputs == {"images": ["1", 0], "filename_prefix": "w"}
    assert list(wf.to_dict()) == ["2", "1"]
    reordered = comfy_rs.Workflow.from_json(dict(reversed(list(wf.to_dict().items()))))
    assert reordered.canonical_hash() == wf.canonical_hash() and len(wf.canonical_hash()) == 64
    path = tmp_path / "w.json"
    path.write_text(text)
    assert comfy_rs.Workflow.from_json(path).to_json() == wf.to_json()
    assert "2 nodes" in repr(wf)
    with pytest.raises(comfy_rs.InvalidInput) as ui:
        comfy_rs.Workflow.from_json(fixtures_dir() / "ui_to_api" / "basic_image.workflow.json")
    assert ui.value.code == "ui_format_workflow"
    with pytest.raises(comfy_rs.InvalidInput) as bad:
        comfy_rs.Workflow.from_json({"1": {"inputs": {}}})
    assert bad.value.code == "invalid_workflow"
    with pytest.raises(ValueError):
        comfy_rs.Workflow.from_json({"1": {"class_type": "X", "inputs": {"v": float("nan")}}})
    big = comfy_rs.Workflow.from_json({"1": {"class_type": "X", "inputs": {"seed": 2**64 - 1, "huge": 2**70}}})
    assert big.to_dict()["1"]["inputs"] == {"seed": 2**64 - 1, "huge": float(2**70)}


async def test_client_object_info_feeds_the_converters(client: comfy_rs.AsyncClient) -> None:
    info = await client.object_info()
    assert "KSampler" in info
    api = comfy_rs.ui_to_api(fixtures_dir() / "ui_to_api" / "basic_image.workflow.json", info)
    job = await client.run(api)
    assert job.status == "succeeded"
