"""validate(): every problem at once, from every workflow form (dict, JSON text, path, Workflow,
editor format), with node ids, inputs, codes and suggestions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Fake, fixtures_dir, image_workflow, sampler_workflow

import comfy_rs


async def test_a_valid_workflow_has_no_problems(client: comfy_rs.AsyncClient) -> None:
    assert await client.validate(image_workflow()) == []


async def test_problems_name_node_input_code_and_suggestions(client: comfy_rs.AsyncClient) -> None:
    wf = sampler_workflow(steps=3)
    wf["3"]["inputs"]["sampler_name"] = "eulr"
    wf["5"]["inputs"]["width"] = 0
    del wf["6"]["inputs"]["text"]
    problems = await client.validate(wf)
    errors = {(p.node_id, p.input): p for p in problems if p.severity == "error"}
    assert set(errors) == {("3", "sampler_name"), ("5", "width"), ("6", "text")}
    combo = errors[("3", "sampler_name")]
    assert combo.code == "value_not_in_list"
    assert "euler" in combo.suggestions
    assert combo.node_class == "KSampler"
    assert errors[("5", "width")].code == "value_smaller_than_min"
    assert errors[("6", "text")].code == "required_input_missing"
    assert all(isinstance(p.message, str) and p.message for p in problems)
    assert "sampler_name" in str(combo) and "eulr" in repr(combo) or "value_not_in_list" in str(combo)


async def test_every_workflow_form_is_accepted(client: comfy_rs.AsyncClient, tmp_path: Path) -> None:
    wf = image_workflow()
    wf["1"]["inputs"]["width"] = -5
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(wf))
    forms: list[comfy_rs.WorkflowLike] = [wf, json.dumps(wf), str(path), path, comfy_rs.Workflow.from_json(wf)]
    for form in forms:
        problems = await client.validate(form)
        assert [(p.node_id, p.input, p.code) for p in problems] == [("1", "width", "value_smaller_than_min")], form


async def test_editor_workflows_are_converted_then_validated(client: comfy_rs.AsyncClient) -> None:
    ui = json.loads((fixtures_dir() / "ui_to_api" / "basic_image.workflow.json").read_text())
    assert await client.validate(ui) == []
    ui["nodes"][0]["type"] = "NoSuchNode"
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await client.validate(ui)
    assert e.value.code == "unknown_node_classes"
    assert "NoSuchNode" in e.value.details["classes"]


async def test_bad_input_raises_typed_errors(client: comfy_rs.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await client.validate('{"1": {"class_type": "EmptyImage", "inputs": {}}, "1": {}}')
    assert e.value.code == "invalid_json"
    assert isinstance(e.value, ValueError)
    with pytest.raises(comfy_rs.ComfyError) as io:
        await client.validate(tmp_path / "missing.json")
    assert io.value.code == "io_error"
    assert io.value.details["kind"] == "NotFound"
    with pytest.raises(TypeError):
        await client.validate(42)  # type: ignore[arg-type]


def test_blocking_validate(blocking: comfy_rs.Client) -> None:
    assert blocking.validate(image_workflow()) == []
    [p] = blocking.validate({"1": {"class_type": "SaveImag", "inputs": {}}})[:1]
    assert p.code == "unknown_class" and "SaveImage" in p.suggestions


async def test_unreachable_server_is_retryable(fake: Fake) -> None:
    dead = comfy_rs.AsyncClient("http://127.0.0.1:9")
    with pytest.raises(comfy_rs.BackendUnreachable) as e:
        await dead.validate(image_workflow())
    assert e.value.code == "backend_unreachable"
    assert e.value.retryable is True
    assert isinstance(e.value, comfy_rs.BackendError)
