"""Run several variations of a workflow at once with the asyncio client, following each one's
progress, then save every output. Optionally serve the same client over MCP meanwhile.

    python examples/python/run_async.py workflow_api.json --seeds 1 2 3 --out outputs/
    python examples/python/run_async.py workflow_api.json --mcp   # prints an MCP endpoint too

Each variation sets every input named "seed" to one of --seeds (or changes nothing when the
workflow has none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import comfy_rs


def with_seed(workflow: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of an API workflow with every `seed` input set to `seed`."""
    copy: dict[str, Any] = json.loads(json.dumps(workflow))
    for node in copy.values():
        if isinstance(node, dict) and "seed" in node.get("inputs", {}):
            node["inputs"]["seed"] = seed
    return copy


async def run_one(client: comfy_rs.AsyncClient, workflow: dict[str, Any], seed: int, out: Path) -> int:
    job = await client.submit(with_seed(workflow, seed))
    async for event in job.events():
        if event.kind == "running" and event.fraction is not None:
            print(f"[seed {seed}] {100 * event.fraction:5.1f}% node {event.node_id} ({event.node_class})")
        elif event.kind == "preview":
            print(f"[seed {seed}] preview {len(event.preview or b'')} bytes")
    await job.wait()
    if job.status != "succeeded":
        print(f"[seed {seed}] {job.status}: {job.error}", file=sys.stderr)
        return 1
    for asset in await job.assets():
        if asset.folder == "temp":
            continue  # previews
        path = out / f"seed{seed}_{asset.node_id}_{(asset.filename or asset.id).replace('/', '_')}"
        await client.save_asset(asset, path)
        print(f"[seed {seed}] saved {path}")
    return 0


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", type=Path, help="API-format workflow JSON file")
    parser.add_argument("--url", default=comfy_rs.DEFAULT_URL, help="ComfyUI base URL")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=Path("outputs"))
    parser.add_argument("--mcp", action="store_true", help="also serve this client over MCP (HTTP)")
    args = parser.parse_args(argv)

    client = comfy_rs.AsyncClient(args.url, max_running_jobs=len(args.seeds))
    workflow: dict[str, Any] = json.loads(args.workflow.read_text())
    try:
        await client.validate(workflow)
    except comfy_rs.BackendUnreachable as e:
        print(f"ComfyUI is not reachable at {args.url}: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    server = await comfy_rs.serve_mcp(client) if args.mcp else None
    if server is not None:
        print(f"MCP endpoint: {server.url}")
    try:
        codes = await asyncio.gather(*(run_one(client, workflow, seed, args.out) for seed in args.seeds))
    except comfy_rs.ValidationError as e:
        for p in e.problems:
            print(f"{p.severity}: {p}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            await server.close()
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
