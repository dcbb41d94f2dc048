"""comfy_rs benchmarks: import time, per-call overhead against the Rust core, latency added to a
job's completion, and memory of a client holding 10,000 assets.

    python comfy-py/bench/bench.py --fake target/release/comfy-fake \
        --baseline target/release/examples/bench_baseline

Starts its own comfy-fake. Build a release extension first (``pip install ./comfy-py`` or
``maturin develop --release -m comfy-py/Cargo.toml``) or the numbers measure a debug build.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def workflow(color: int) -> dict[str, Any]:
    """The same graph as bench/baseline.rs."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": color % 16_777_216}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}},
    }


@contextmanager
def fake_server(binary: str, *extra: str) -> Iterator[str]:
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--exit-on-eof", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdin is not None
    url = p.stdout.readline().decode().strip()
    try:
        yield url
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def per_call_us(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) * 1e6 / n


async def async_per_call_us(fn: Callable[[], Any], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - t) * 1e6 / n


def import_time_ms(runs: int) -> tuple[float, float]:
    """Median wall time of `python -c "import comfy_rs"` minus that of `python -c "pass"`, and
    the module's own cumulative time from -X importtime."""

    def wall(code: str) -> float:
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples.append(time.perf_counter() - t)
        return statistics.median(samples) * 1e3

    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import comfy_rs"], capture_output=True, text=True, check=True)
    cumulative = [line for line in r.stderr.splitlines() if line.rstrip().endswith("| comfy_rs")]
    own = int(cumulative[-1].split("|")[1]) / 1e3 if cumulative else float("nan")
    return wall("import comfy_rs") - wall("pass"), own


def python_calls(url: str, n: int, jobs: int) -> dict[str, float]:
    import comfy_rs

    out: dict[str, float] = {}
    client = comfy_rs.Client(url)
    wf = workflow(0)
    client.validate(wf)
    out["validate_us"] = per_call_us(lambda: client.validate(wf), n)
    out["list_templates_us"] = per_call_us(client.list_templates, n)
    out["queue_us"] = per_call_us(client.queue, max(n // 10, 1))
    job = client.run(workflow(1))
    out["ready_wait_us"] = per_call_us(lambda: job.wait(0), n)
    base = int(time.time()) % 100_000 * 1000
    times = []
    for i in range(jobs):
        t = time.perf_counter()
        client.run(workflow(base + i))
        times.append((time.perf_counter() - t) * 1e3)
    out["sequential_job_ms"] = statistics.median(times)

    async def async_side() -> dict[str, float]:
        a = comfy_rs.AsyncClient(url)
        await a.validate(wf)
        r = {"validate_us": await async_per_call_us(lambda: a.validate(wf), n)}
        r["queue_us"] = await async_per_call_us(a.queue, max(n // 10, 1))
        ajob = await a.run(workflow(2))
        r["ready_wait_us"] = await async_per_call_us(lambda: ajob.wait(0), n)
        times = []
        for i in range(jobs):
            t = time.perf_counter()
            await a.run(workflow(base + 50_000 + i))
            times.append((time.perf_counter() - t) * 1e3)
        r["sequential_job_ms"] = statistics.median(times)
        return r

    for k, v in asyncio.run(async_side()).items():
        out[f"async_{k}"] = v
    return out


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory(url: str, assets: int, per_job: int) -> dict[str, float]:
    """RSS of this process: before the client, after its jobs recorded `assets` assets (memory
    store), and after listing them all as Python objects."""
    import comfy_rs

    before = rss_kib()
    client = comfy_rs.Client(url, max_running_jobs=64)
    client.validate(workflow(0))
    after_client = rss_kib()
    in_flight: list[comfy_rs.Job] = []
    for i in range(assets // per_job):
        wf = workflow(10_000 + i)
        wf["1"]["inputs"]["batch_size"] = per_job
        if len(in_flight) == 32:
            in_flight.pop(0).wait()
        in_flight.append(client.submit(wf))
    for job in in_flight:
        job.wait()
    held = rss_kib()
    listed = client.assets(limit=assets + 1)
    assert len(listed) == assets, len(listed)
    with_objects = rss_kib()
    return {
        "client_kib": after_client - before,
        "holding_kib": held - before,
        "objects_kib": with_objects - held,
        "assets": len(listed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fake", required=True, help="comfy-fake binary")
    parser.add_argument("--baseline", required=True, help="bench_baseline example binary (Rust)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--memory-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(memory(args.memory_only, 10_000, 50)))
        return 0

    import_wall, import_own = import_time_ms(15)
    with fake_server(args.fake) as url:
        rust = json.loads(subprocess.run([args.baseline, url, str(args.calls), str(args.jobs)], capture_output=True, text=True, check=True).stdout)
        py = python_calls(url, args.calls, args.jobs)
        rust2 = json.loads(subprocess.run([args.baseline, url, str(args.calls), str(args.jobs)], capture_output=True, text=True, check=True).stdout)
    with fake_server(args.fake) as url:
        mem = json.loads(subprocess.run([sys.executable, __file__, "--fake", args.fake, "--baseline", args.baseline, "--memory-only", url], capture_output=True, text=True, check=True).stdout)

    def r(key: str) -> float:
        return min(float(rust[key]), float(rust2[key]))

    print(f"import comfy_rs: {import_wall:.1f} ms wall over `python -c pass` (median of 15); -X importtime cumulative {import_own:.1f} ms\n")
    print("| call | Rust (comfy-core) | Python blocking `Client` | Python `AsyncClient` |")
    print("| --- | --- | --- | --- |")
    print(f"| validate (4-node workflow, catalogue cached) | {r('validate_us'):.1f} µs | {py['validate_us']:.1f} µs | {py['async_validate_us']:.1f} µs |")
    print(f"| list_templates (4 built-ins) | {r('list_templates_us'):.1f} µs | {py['list_templates_us']:.1f} µs | (same, synchronous) |")
    print(f"| queue (one HTTP round trip to comfy-fake) | {r('queue_us'):.1f} µs | {py['queue_us']:.1f} µs | {py['async_queue_us']:.1f} µs |")
    print(f"| wait on a finished job (ready at once) | {r('ready_wait_us'):.2f} µs | {py['ready_wait_us']:.1f} µs | {py['async_ready_wait_us']:.1f} µs |")
    print(f"| tiny job, submit → finished (median of {args.jobs} sequential) | {r('sequential_job_ms'):.2f} ms | {py['sequential_job_ms']:.2f} ms | {py['async_sequential_job_ms']:.2f} ms |")
    print(
        f"\nmemory (RSS): client {mem['client_kib'] / 1024:.1f} MiB; holding {mem['assets']} assets "
        f"(200 jobs × 50 images, memory store) {mem['holding_kib'] / 1024:.1f} MiB over the empty process; "
        f"listing all {mem['assets']} as Python Asset objects +{mem['objects_kib'] / 1024:.1f} MiB"
    )
    print(f"\nraw: rust={json.dumps(rust)} rust2={json.dumps(rust2)} python={json.dumps(py)} memory={json.dumps(mem)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
