// Generate an image with the built-in template, following its progress and previews; type-
// checked with `tsc --noEmit` (comfy-node/tsconfig.json). Run it compiled, e.g.
//   npx tsc generate.ts --module nodenext --target es2022 && node generate.js "a lighthouse" model.safetensors
import { writeFile } from 'node:fs/promises'

import { ComfyClient, ComfyError, ValidationError, type AssetInfo, type JobEvent } from 'comfy-rs'

async function main(prompt: string, checkpoint: string): Promise<AssetInfo[]> {
  const client = new ComfyClient({ url: process.env.COMFYUI_URL ?? 'http://127.0.0.1:8188', maxRunningJobs: 4 })
  const job = await client.generateImage({ prompt, ckpt_name: checkpoint, steps: 20, width: 512, height: 512 })
  const abort = AbortSignal.timeout(10 * 60_000)
  for await (const ev of job.events({ signal: abort })) show(ev)
  const assets = await job.assets()
  for (const asset of assets) {
    const bytes: Buffer = await client.assetBytes(asset.id)
    await writeFile(asset.filename ?? `${asset.id}.bin`, bytes)
  }
  return assets
}

function show(ev: JobEvent): void {
  switch (ev.kind) {
    case 'running':
      console.log(`${((ev.fraction ?? 0) * 100).toFixed(0)}% node ${ev.nodeId} ${ev.step ?? ''}/${ev.maxSteps ?? ''}`)
      break
    case 'preview':
      console.log(`preview: ${ev.preview?.length ?? 0} bytes of ${ev.previewMime}`)
      break
    case 'finished':
      console.log(`finished: ${ev.status}${ev.failure ? ` (${ev.failure.exceptionType}: ${ev.failure.message})` : ''}`)
      break
  }
}

const [prompt = 'a lighthouse at dusk', checkpoint = 'v1-5-pruned-emaonly.safetensors'] = process.argv.slice(2)
main(prompt, checkpoint).then(
  (assets) => console.log(assets.map((a) => `${a.filename} ${a.width ?? '?'}x${a.height ?? '?'} ${a.sha256 ?? ''}`).join('\n')),
  (e: unknown) => {
    if (e instanceof ValidationError) for (const p of e.details.problems) console.error(`${p.nodeId}.${p.input}: ${p.message}`)
    else if (e instanceof ComfyError) console.error(`[${e.code}] ${e.message}`)
    else throw e
    process.exitCode = 1
  },
)
