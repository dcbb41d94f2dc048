#!/usr/bin/env bash
# smoke.sh URL — run the two smoke workflows against a running ComfyUI (see start.sh):
#   smoke_model_free.json  EmptyImage -> ImageInvert -> SaveImage (no model needed)
#   smoke_txt2img.json     CheckpointLoaderSimple(tiny_sd15) -> CLIPTextEncode x2 ->
#                          EmptyLatentImage 64x64 -> KSampler (euler, 2 steps) -> VAEDecode -> SaveImage
# Each is POSTed to /prompt and awaited in /history/{prompt_id} (timeout
# ${COMFY_E2E_SMOKE_TIMEOUT:-120} s each); its saved image is fetched back through /view.
# Prints one line per workflow on stdout; exits non-zero with the history status on failure.
set -euo pipefail

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: smoke.sh URL" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${COMFY_E2E_PYTHON:-python3}"

exec "$PY" - "$1" "${COMFY_E2E_SMOKE_TIMEOUT:-120}" \
  "$HERE/smoke_model_free.json" "$HERE/smoke_txt2img.json" <<'EOF'
import json, os, sys, time, urllib.error, urllib.parse, urllib.request, uuid

base, timeout, files = sys.argv[1].rstrip("/"), float(sys.argv[2]), sys.argv[3:]

def fail(msg):
    print(f"[real-comfyui smoke] FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)

def http(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        fail(f"{base + path}: {e}")

client_id = f"comfy-rs-smoke-{uuid.uuid4()}"
for path in files:
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path) as f:
        graph = json.load(f)
    t0 = time.monotonic()
    code, raw = http("/prompt", {"prompt": graph, "client_id": client_id})
    if code != 200:
        fail(f"{name}: POST /prompt -> HTTP {code}: {raw.decode(errors='replace')}")
    prompt_id = json.loads(raw)["prompt_id"]
    entry = None
    while True:
        code, raw = http(f"/history/{prompt_id}")
        if code == 200:
            entry = json.loads(raw).get(prompt_id)
            status = (entry or {}).get("status") or {}
            if status.get("completed") or status.get("status_str") == "error":
                break
        if time.monotonic() - t0 > timeout:
            _, q = http("/queue")
            fail(f"{name}: prompt {prompt_id} not finished after {timeout:.0f} s; "
                 f"history: {json.dumps(entry)}; queue: {q.decode(errors='replace')}")
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    status = entry.get("status") or {}
    if status.get("status_str") != "success":
        fail(f"{name}: prompt {prompt_id} status: {json.dumps(status, indent=1)}")
    images = [img for out in (entry.get("outputs") or {}).values() for img in out.get("images", [])]
    if not images:
        fail(f"{name}: prompt {prompt_id} succeeded but has no image output: {json.dumps(entry.get('outputs'))}")
    img = images[0]
    q = urllib.parse.urlencode({k: img.get(k, "") for k in ("filename", "subfolder", "type")})
    code, png = http(f"/view?{q}")
    if code != 200 or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        fail(f"{name}: GET /view?{q} -> HTTP {code}, {len(png)} bytes, not a PNG")
    print(f"ok {name} {elapsed:.2f}s prompt_id={prompt_id} output={img['filename']} ({len(png)} bytes)",
          flush=True)
EOF
