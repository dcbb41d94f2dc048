"""Validate, run and save a ComfyUI workflow with the blocking client.

    python examples/python/run_blocking.py workflow_api.json --url http://127.0.0.1:8188 --out outputs/

The workflow may be in API format or an editor ("save") file. Every problem is printed before
anything runs; progress is printed as the job goes; every output is saved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import comfy_rs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", type=Path, help="workflow JSON file (API or editor format)")
    parser.add_argument("--url", default=comfy_rs.DEFAULT_URL, help="ComfyUI base URL")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="directory for the outputs")
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    args = parser.parse_args(argv)

    client = comfy_rs.Client(args.url)
    problems = client.validate(args.workflow)
    for p in problems:
        print(f"{p.severity}: {p}", file=sys.stderr)
    if any(p.severity == "error" for p in problems):
        return 1

    job = client.submit(args.workflow)
    print(f"job {job.id}")
    for event in job.events():
        if event.kind == "queued":
            print(f"  queued (position {event.queue_position})")
        elif event.kind == "running":
            step = f" step {event.step}/{event.max_steps}" if event.step is not None else ""
            print(f"  {100 * (event.fraction or 0):5.1f}% node {event.node_id} ({event.node_class}){step}")
        elif event.kind == "finished":
            print(f"  {event.status}")
    job.wait(args.timeout)
    if job.status != "succeeded":
        print(f"job {job.status}: {job.error}", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    for asset in job.assets():
        name = asset.filename or f"{asset.node_id}_{asset.key}_{asset.index}.txt"
        saved = client.save_asset(asset, args.out / f"{asset.node_id}_{name.replace('/', '_')}")
        print(f"saved {name} ({saved.byte_size} bytes, {saved.width}x{saved.height}, sha256 {saved.sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
