#!/usr/bin/env node
// Builds the native module with plain `cargo build` (no @napi-rs/cli needed) and copies it to
// `comfy.<platform>.node`, where the loader (`native.js`) looks first.
//
//   node scripts/build-native.cjs                 debug build (shares target/debug with `cargo test`)
//   node scripts/build-native.cjs --release       optimised build
//   node scripts/build-native.cjs --types         also regenerate native.d.ts and native.js from the
//                                                 Rust code (needs the dev dependency @napi-rs/cli)
//   node scripts/build-native.cjs --if-missing    do nothing when a binary already loads (the npm
//                                                 `install` script: prebuilt package or earlier build)
//
// `napi build --platform` (npm run build) does the same but always passes `--target`, which
// makes cargo build every dependency a second time in target/<triple>/; this script does not.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const pkgDir = path.resolve(__dirname, '..')
const args = new Set(process.argv.slice(2))

/** The `platformArchABI` part of the file name the loader looks for. */
function platformArchAbi() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    const glibc = report?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function fail(message) {
  process.stderr.write(`comfy-rs: ${message}\n`)
  process.exit(1)
}

function alreadyLoads() {
  try {
    require(path.join(pkgDir, 'native.js'))
    return true
  } catch {
    return false
  }
}

async function main() {
  if (args.has('--if-missing')) {
    if (alreadyLoads()) return
    if (process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) === pkgDir) {
      // `npm install` inside comfy-node itself (development): `npm run build` builds it.
      process.stderr.write('comfy-rs: no native module yet; run `npm run build` (debug) or `npm run build:release`\n')
      return
    }
    if (!fs.existsSync(path.join(pkgDir, 'Cargo.toml'))) {
      fail(
        `no prebuilt binary for ${platformArchAbi()} (package comfy-rs-${platformArchAbi()}) and no Rust ` +
          'sources to build one: install from a checkout of the comfy-rs repository (npm install ./comfy-node)',
      )
    }
    if (process.env.COMFY_RS_DEBUG_BUILD === '1') args.delete('--release')
  }
  const cargo = process.env.CARGO || 'cargo'
  const cargoArgs = ['build', '-p', 'comfy-node', '--message-format=json-render-diagnostics']
  if (args.has('--release')) cargoArgs.push('--release')
  const env = { ...process.env }
  let typeDefDir = null
  if (args.has('--types')) {
    typeDefDir = fs.mkdtempSync(path.join(os.tmpdir(), 'comfy-rs-typedef-'))
    env.NAPI_TYPE_DEF_TMP_FOLDER = typeDefDir
    env.NAPI_FORCE_BUILD_COMFY_NODE = String(Date.now())
  }
  process.stderr.write(`comfy-rs: ${cargo} ${cargoArgs.join(' ')}\n`)
  const build = spawnSync(cargo, cargoArgs, {
    cwd: pkgDir,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  })
  if (build.error) {
    fail(
      `could not run cargo (${build.error.message}). Building comfy-rs from source needs a Rust ` +
        'toolchain (https://rustup.rs); or install a prebuilt platform package (see README).',
    )
  }
  if (build.status !== 0) fail(`cargo build failed (exit ${build.status})`)
  let library = null
  for (const line of build.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const msg = JSON.parse(line)
    if (msg.reason === 'compiler-artifact' && msg.target?.name === 'comfy_node') {
      library = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? library
    }
  }
  if (!library) fail('cargo did not report the comfy_node library')
  const dest = path.join(pkgDir, `comfy.${platformArchAbi()}.node`)
  // Copy then rename: a process that has the old file loaded keeps a valid mapping.
  const staged = `${dest}.${process.pid}.tmp`
  fs.copyFileSync(library, staged)
  fs.renameSync(staged, dest)
  process.stderr.write(`comfy-rs: ${path.relative(process.cwd(), dest) || dest}\n`)
  if (typeDefDir) await writeTypes(typeDefDir)
}

/** native.d.ts and native.js from the type definitions napi-derive wrote while compiling. */
async function writeTypes(typeDefDir) {
  const { generateTypeDef, writeJsBinding } = await import('@napi-rs/cli')
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  const { exports, dts } = await generateTypeDef({ typeDefDir, cwd: pkgDir, declareBindingTarget: () => true })
  fs.writeFileSync(path.join(pkgDir, 'native.d.ts'), dts)
  await writeJsBinding({
    platform: true,
    idents: exports,
    jsBinding: 'native.js',
    binaryName: pkg.napi.binaryName,
    packageName: pkg.name,
    version: pkg.version,
    outputDir: pkgDir,
  })
  fs.rmSync(typeDefDir, { recursive: true, force: true })
  process.stderr.write('comfy-rs: native.d.ts, native.js\n')
}

main().catch((e) => fail(e?.stack ?? String(e)))
