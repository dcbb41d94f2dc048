// Shared by the test files: the comfy-fake binary as a child process, workflows, small waits.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const HERE = dirname(fileURLToPath(import.meta.url))
export const PKG = resolve(HERE, '..')
export const ROOT = resolve(PKG, '..')
export const CKPT = 'tiny_sd15.safetensors'

/** The comfy-fake binary: $COMFY_FAKE_BIN, else the workspace's debug build. */
export function fakeBin() {
  const bin = process.env.COMFY_FAKE_BIN || join(ROOT, 'target', 'debug', 'comfy-fake')
  if (!existsSync(bin)) throw new Error(`comfy-fake not found at ${bin}: run \`cargo build -p comfy-fake\` first`)
  return bin
}

/** The comfy-mcp binary: $COMFY_MCP_BIN, else the workspace's debug build. */
export function mcpBin() {
  const bin = process.env.COMFY_MCP_BIN || join(ROOT, 'target', 'debug', 'comfy-mcp')
  if (!existsSync(bin)) throw new Error(`comfy-mcp not found at ${bin}: run \`cargo build -p comfy-mcp\` first`)
  return bin
}

/**
 * Starts a fake ComfyUI (`--full-catalog`, a checkpoint file, previews, and `extra` flags);
 * resolves to `{ url, stop() }`. It exits with the test process (`--exit-on-eof`).
 */
export async function startFake(extra = []) {
  const args = ['--listen', '127.0.0.1:0', '--full-catalog', '--previews', '--model-file', `checkpoints=${CKPT}`, '--exit-on-eof', ...extra]
  const child = spawn(fakeBin(), args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const [url] = await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`comfy-fake exited with ${code} before printing its URL`)
    }),
  ])
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return
      child.stdin.end()
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

/** EmptyImage → ImageInvert → SaveImage (the real-ComfyUI smoke graph). */
export function modelFree(prefix = 'node_test') {
  return {
    1: { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
    2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  }
}

/** Text to image on the tiny checkpoint with `steps` sampler steps. */
export function txt2img(steps = 4, seed = 42) {
  return {
    4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: CKPT } },
    5: { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    6: { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['4', 1] } },
    7: { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    3: {
      class_type: 'KSampler',
      inputs: {
        seed, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1,
        model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0],
      },
    },
    8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    9: { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'node_txt2img' } },
  }
}

/** The bytes the server itself serves for an asset (`GET /view`). */
export async function viewBytes(url, asset) {
  const q = new URLSearchParams({ filename: asset.filename, subfolder: asset.subfolder ?? '', type: asset.folder ?? 'output' })
  const res = await fetch(`${url}/view?${q}`)
  if (!res.ok) throw new Error(`/view answered ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

/** Resolves once `predicate()` is true (checked every 10 ms), rejects after `ms`. */
export async function until(predicate, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
