"""upload → LoadImage, templates (built-ins, a workflows directory, parameter errors), and the
SQLite store in data_dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CKPT, Fake, png_bytes

import comfy_rs


def load_image_workflow(name: str, prefix: str = "uploaded") -> dict[str, object]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


async def test_uploaded_bytes_are_a_valid_load_image_input_at_once(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    data = png_bytes(12, 9)
    name = await client.upload(data, "py-upload.png")
    assert name.endswith(".png")
    assert fake.view(name, "", "input") == data
    assert await client.validate(load_image_workflow(name)) == []
    job = await client.run(load_image_workflow(name))
    [asset] = await job.assets(fetch=True)
    assert (asset.width, asset.height) == (12, 9)
    problems = await client.validate(load_image_workflow("never-uploaded.png"))
    assert [(p.node_id, p.input, p.code) for p in problems] == [("1", "image", "value_not_in_list")]


async def test_upload_from_a_path_and_bytes_like(client: comfy_rs.AsyncClient, fake: Fake, tmp_path: Path) -> None:
    path = tmp_path / "from-path.png"
    path.write_bytes(png_bytes(5, 5))
    name = await client.upload(path)
    assert name.startswith("from-path") and fake.view(name, "", "input") == path.read_bytes()
    assert (await client.upload(str(path), filename="renamed.png")).startswith("renamed")
    assert (await client.upload(bytearray(png_bytes()), "ba.png")).startswith("ba")
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await client.upload(b"\x89PNG")
    assert e.value.code == "invalid_argument" and e.value.details["argument"] == "filename"
    with pytest.raises(comfy_rs.ComfyError) as io:
        await client.upload(tmp_path / "missing.png")
    assert io.value.code == "io_error"


def test_blocking_upload(blocking: comfy_rs.Client) -> None:
    name = blocking.upload(png_bytes(), "blocking.png")
    assert blocking.run(load_image_workflow(name, "blocking-up")).status == "succeeded"


def test_list_templates(blocking: comfy_rs.Client) -> None:
    templates = {t.name: t for t in blocking.list_templates()}
    assert set(templates) >= {"generate_image", "image_to_image", "inpaint", "upscale"}
    gen = templates["generate_image"]
    assert gen.source == "builtin" and gen.description
    params = {p.name: p for p in gen.params}
    assert params["prompt"].type == "string" and params["prompt"].required
    assert params["steps"].type == "integer" and isinstance(params["steps"].default, int)


async def test_built_in_templates_as_methods(client: comfy_rs.AsyncClient, fake: Fake) -> None:
    job = await client.generate_image("a lighthouse", ckpt_name=CKPT, steps=3, width=64, height=64, seed=5)
    assert job.status == "succeeded"
    [image] = await job.assets()
    assert image.template == "generate_image"
    up = await client.upscale(png_bytes(10, 10), scale_by=2.0)
    [big] = await up.assets(fetch=True)
    assert (big.width, big.height) == (20, 20) and big.template == "upscale"
    name = await client.upload(png_bytes(16, 16), "i2i.png")
    i2i = await client.image_to_image(name, "oil painting", ckpt_name=CKPT, steps=2)
    assert i2i.status == "succeeded"
    inpainted = await client.inpaint(png_bytes(16, 16), "a cat", ckpt_name=CKPT, steps=2)
    assert inpainted.status == "succeeded"


async def test_template_parameter_errors(client: comfy_rs.AsyncClient) -> None:
    with pytest.raises(comfy_rs.InvalidInput) as e:
        await client.run_template("generate_image", prompt="x", ckpt_name=CKPT, steps="many")
    assert e.value.code == "invalid_parameter" and e.value.details["param"] == "steps"
    with pytest.raises(comfy_rs.NotFound) as nf:
        await client.run_template("generate_imag", prompt="x")
    assert nf.value.code == "template_not_found" and "generate_image" in nf.value.details["suggestions"]
    # Once the catalogue is known, a template's choices come from the server's node catalogue.
    with pytest.raises(comfy_rs.InvalidInput) as choice:
        await client.run_template("generate_image", prompt="x", ckpt_name="missing.safetensors")
    assert choice.value.details["param"] == "ckpt_name" and CKPT in choice.value.message


async def test_workflows_dir_templates(fake: Fake, tmp_path: Path) -> None:
    template = {
        "__metadata__": {"name": "solid", "description": "A solid image",
                         "parameters": {"size": {"type": "integer", "description": "Side in pixels"}}},
        "1": {"class_type": "EmptyImage", "inputs": {"width": "{{size}}", "height": "{{size}}", "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "solid"}},
    }
    (tmp_path / "solid.json").write_text(json.dumps(template))
    client = comfy_rs.AsyncClient(fake.url, workflows_dir=tmp_path)
    [solid] = [t for t in client.list_templates() if t.name == "solid"]
    assert solid.source == "directory" and [p.name for p in solid.params] == ["size"]
    job = await client.run_template("solid", size=24)
    [asset] = await job.assets(fetch=True)
    assert (asset.width, asset.height) == (24, 24) and asset.template == "solid"


async def test_data_dir_keeps_jobs_and_assets_across_clients(fake: Fake, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = comfy_rs.AsyncClient(fake.url, data_dir=data)
    job = await first.run({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "kept"}},
    })
    ids = sorted(a.id for a in await job.assets())
    assert (data / "comfy.sqlite3").is_file()
    second = comfy_rs.AsyncClient(fake.url, data_dir=data)
    assert sorted(a.id for a in await second.assets(job_id=job.id)) == ids
    again = await second.job(job.id)
    assert again.status == "succeeded" and sorted(a.id for a in await again.assets()) == ids
    saved = await second.save_asset(ids[0], tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG" and saved.byte_size == (tmp_path / "out.png").stat().st_size


def test_data_dir_expands_the_home_directory(fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    client = comfy_rs.Client(fake.url, data_dir="~/comfy-data")
    assert client.run({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "home"}},
    }).status == "succeeded"
    assert (tmp_path / "comfy-data" / "comfy.sqlite3").is_file()
