// Benchmarks of the Node binding, against the comfy-fake binary:
//   - require() time of the package;
//   - per-call cost of validate() and of a light async call (asset lookup), beside the same
//     calls from Rust (examples/core_bench.rs);
//   - submit-to-finished time of a small job, beside Rust: the completion latency the binding adds;
//   - event-loop delay (perf_hooks.monitorEventLoopDelay) while 100 jobs stream their progress.
//
//   node bench/bench.mjs [--calls 2000] [--jobs 200] [--release]
//
// With --release the Rust side is built with `cargo build --release` (build the module with
// `npm run build:release` or `node scripts/build-native.cjs --release` too, for like with like).
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

import { ComfyClient } from '../index.mjs'
import { PKG, ROOT, modelFree, startFake, txt2img } from '../__test__/helpers.mjs'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    jobs: { type: 'string', default: '200' },
    release: { type: 'boolean', default: false },
  },
})
const CALLS = Number(values.calls)
const JOBS = Number(values.jobs)

function stats(samplesMs) {
  const s = [...samplesMs].sort((a, b) => a - b)
  const at = (q) => s[Math.round((s.length - 1) * q)] * 1000
  return { n: s.length, p50_us: at(0.5), p99_us: at(0.99), mean_us: (s.reduce((a, b) => a + b, 0) / s.length) * 1000 }
}

async function time(n, f) {
  const samples = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await f(i)
    samples.push(performance.now() - t0)
  }
  return stats(samples)
}

const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`)
function row(name, node, rust) {
  const r = rust ? `   rust p50 ${fmt(rust.p50_us)}  p99 ${fmt(rust.p99_us)}   node − rust (p50) ${fmt(node.p50_us - rust.p50_us)}` : ''
  console.log(`${name.padEnd(26)} node p50 ${fmt(node.p50_us)}  p99 ${fmt(node.p99_us)}${r}`)
}

// 1. require() time, in fresh processes.
const requireMs = []
for (let i = 0; i < 10; i++) {
  const out = execFileSync(process.execPath, [
    '-e',
    `const t = process.hrtime.bigint(); require(${JSON.stringify(join(PKG, 'index.js'))}); console.log(Number(process.hrtime.bigint() - t) / 1e6)`,
  ])
  requireMs.push(Number(out.toString()))
}
row('require("comfy-rs")', stats(requireMs))

const fake = await startFake(['--step-delay-ms', '1'])
try {
  // 2. The Rust side: the same calls on comfy_core directly.
  const profile = values.release ? ['--release'] : []
  const build = spawnSync('cargo', ['build', '-q', '-p', 'comfy-node', '--example', 'core_bench', ...profile], { cwd: ROOT, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('cargo build --example core_bench failed')
  const bin = join(ROOT, 'target', values.release ? 'release' : 'debug', 'examples', 'core_bench')
  const rust = Object.fromEntries(
    execFileSync(bin, [fake.url, String(CALLS), String(JOBS)])
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .map((m) => [m.name, m]),
  )

  // 3. The same from Node.
  const client = new ComfyClient({ url: fake.url, maxRunningJobs: 10_000 })
  const wf = modelFree('bench_node')
  await client.validate(wf)
  row('validate (object)', await time(CALLS, () => client.validate(wf)), rust.validate)
  const [asset] = await (await client.run(wf)).assets()
  row('asset (light async call)', await time(CALLS, () => client.asset(asset.id)), rust.asset)
  const done = await client.run(wf)
  const t0sync = performance.now()
  for (let i = 0; i < CALLS; i++) if (!done.status) throw new Error('no status')
  const syncUs = ((performance.now() - t0sync) / CALLS) * 1000
  console.log(`${'job.status (sync getter)'.padEnd(26)} node mean ${fmt(syncUs)}`)
  row('submit + wait (small job)', await time(JOBS, () => client.run(wf)), rust.run)

  // 4. Completion latency the binding adds: from the moment the job's state turns finished in
  //    Rust (what a Rust `job.wait()` wakes on; visible at once through the sync `status`
  //    getter, polled every event-loop turn) to the moment `job.wait()` resolves in JavaScript.
  const added = []
  for (let i = 0; i < JOBS; i++) {
    const job = await client.submit(wf)
    let seen = null
    let resolved = null
    const waited = job.wait().then(() => {
      resolved = performance.now()
    })
    await new Promise((done) => {
      const poll = () => {
        if (seen === null && job.finished) seen = performance.now()
        if (resolved !== null) return done()
        setImmediate(poll)
      }
      poll()
    })
    await waited
    added.push(Math.max(0, resolved - (seen ?? resolved)))
  }
  const lat = stats(added)
  console.log(`${'completion latency added'.padEnd(26)} node p50 ${fmt(lat.p50_us)}  p99 ${fmt(lat.p99_us)}  (Rust wait() wakes on the same state change)`)

  // 5. Event-loop delay: idle first (the machine's own noise), then while 100 jobs stream
  //    progress (and previews) to 100 readers.
  const idle = monitorEventLoopDelay({ resolution: 1 })
  idle.enable()
  await new Promise((r) => setTimeout(r, 3000))
  idle.disable()
  const msIdle = (ns) => (ns / 1e6).toFixed(2)
  console.log(`event-loop delay, idle 3 s: p50 ${msIdle(idle.percentile(50))} ms, p99 ${msIdle(idle.percentile(99))} ms, max ${msIdle(idle.max)} ms`)
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  const jobs = await Promise.all(Array.from({ length: 100 }, (_, i) => client.submit(txt2img(20, i))))
  histogram.enable()
  const t0 = performance.now()
  let events = 0
  await Promise.all(
    jobs.map(async (job) => {
      for await (const ev of job.events()) events += ev.kind ? 1 : 0
    }),
  )
  histogram.disable()
  const seconds = (performance.now() - t0) / 1000
  const ms = (ns) => (ns / 1e6).toFixed(2)
  console.log(
    `event-loop delay, 100 jobs streaming (${events} events in ${seconds.toFixed(1)} s): ` +
      `p50 ${ms(histogram.percentile(50))} ms, p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms`,
  )
} finally {
  await fake.stop()
}
