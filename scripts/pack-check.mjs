#!/usr/bin/env node
/**
 * `npm run test:pack`: Murmur installed the way a user installs it.
 *
 * Builds the three published packages, packs them, and in a fresh project outside the
 * monorepo (a temp dir) runs `npm install <tarballs> typescript @types/node`, then:
 *  - checks each tarball holds dist, README.md and LICENSE, and no tests or source maps;
 *  - compiles scripts/pack-check/main.ts with `lib: ["ES2023"]` (no DOM) and
 *    `skipLibCheck: false`, so every .d.ts it reaches must type-check in a plain Node project;
 *  - type-checks scripts/pack-check/browser.ts against @murmur/browser with the DOM lib;
 *  - runs main.js (a relay and two nodes that connect, then runConsumerSession());
 *  - runs the installed `murmur` bin directly (exec bit, shebang, --help);
 *  - on an older Node, if one is installed (/usr/bin/node is 20 here), checks that
 *    assertNodeVersion() refuses it with one line.
 * Prints the install's package count and size. Removes the temp dir and every process it
 * started, also on failure or Ctrl-C.
 *
 * Options: --keep (leave the temp dir and print it), --omit=peer (install with npm's
 * `--omit=peer`, the smaller install the READMEs describe), --no-build (pack the dist
 * folders as they are).
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const here = join(root, 'scripts', 'pack-check')
const PACKAGES = ['packages/protocol', 'packages/node', 'packages/browser']
const OLD_NODE = process.env.MURMUR_OLD_NODE ?? '/usr/bin/node'
const args = new Set(process.argv.slice(2))
const keep = args.has('--keep')
const omitPeer = args.has('--omit=peer')
const noBuild = args.has('--no-build')

if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`pack-check: run it on Node 22+ (npm run test:pack uses the repo's Node 24); this is ${process.version}`)
  process.exit(1)
}

const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const children = new Set()
const timings = []
let tmp

// Children get our Node first on PATH (bins' `#!/usr/bin/env node`) and none of the
// npm_* variables `npm run` sets for this script, which would steer the inner npm
// (workspace, prefix) back at the monorepo.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
childEnv.PATH = [dirname(process.execPath), process.env.PATH].join(delimiter)

/**
 * Run a command; resolve with `{ out, stdout }` (out: stdout and stderr as they came),
 * reject with the output on another exit code (`expectCode: null` takes any) or after timeoutMs.
 */
function run (cmd, argv, { cwd = root, timeoutMs = 120_000, env = childEnv, expectCode = 0 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, argv, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    let stdout = ''
    child.stdout.on('data', d => { out += d; stdout += d })
    child.stderr.on('data', d => { out += d })
    const timer = setTimeout(() => { killTree(child); out += `\n[killed after ${timeoutMs / 1000} s]` }, timeoutMs)
    child.on('error', err => { clearTimeout(timer); children.delete(child); reject(err) })
    child.on('close', code => {
      clearTimeout(timer)
      children.delete(child)
      if (expectCode == null || code === expectCode) resolvePromise({ out, stdout })
      else reject(new Error(`${cmd} ${argv.join(' ')} (in ${cwd}) exited ${code}, expected ${expectCode}:\n${out.trimEnd()}`))
    })
  })
}

function killTree (child) {
  try { process.kill(-child.pid, 'SIGKILL') } catch {}
}

function cleanup () {
  for (const child of children) killTree(child)
  children.clear()
  if (tmp == null) return
  if (keep) console.log(`pack-check: kept ${tmp}`)
  else rmSync(tmp, { recursive: true, force: true })
  tmp = undefined
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { console.log(`\npack-check: ${signal}, cleaned up`); cleanup(); process.exit(130) })

async function step (name, fn) {
  const started = performance.now()
  process.stdout.write(`pack-check: ${name} ... `)
  const result = await fn()
  const s = (performance.now() - started) / 1000
  timings.push([name, s])
  console.log(`${s.toFixed(1)} s`)
  return result
}

function check (ok, message) {
  if (!ok) throw new Error(message)
}

/** Disk use of a tree as `du` counts it (allocated blocks, links not followed). */
function diskUse (dir) {
  let bytes = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const st = lstatSync(path)
    bytes += st.blocks * 512
    if (entry.isDirectory()) bytes += diskUse(path)
  }
  return bytes
}

/**
 * What a tarball must and must not hold: the build, README and LICENSE; no tests; and
 * since it ships source maps (stack traces and go-to-definition land in the TypeScript),
 * the source each map points at (tsc's layout: dist/src/a/b.js.map <- src/a/b.ts).
 */
function checkTarball ({ name, files }) {
  const paths = new Set(files.map(f => f.path))
  for (const need of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts']) {
    check(paths.has(need), `${name}: tarball lacks ${need}`)
  }
  const tests = [...paths].filter(p => /(^|\/)test\/|\.(spec|test)\.[cm]?[jt]s$/.test(p))
  check(tests.length === 0, `${name}: tarball holds tests: ${tests.slice(0, 5).join(', ')}`)
  const orphanMaps = [...paths].filter(p => p.endsWith('.map') && !paths.has(p.replace(/^dist\//, '').replace(/(\.d)?\.js\.map$|\.d\.ts\.map$/, '.ts')))
  check(orphanMaps.length === 0, `${name}: source maps whose source is not in the tarball: ${orphanMaps.slice(0, 5).join(', ')}`)
}

/**
 * Compile with `skipLibCheck: false` and fail on any error in the consumer's own files or
 * in a `@murmur/*` package; return the other packages' error counts. Those are not ours to
 * fix: libp2p's, yjs's and tfjs's own .d.ts name DOM types (`EventInit`, `JsonWebKey`,
 * `Document`), so no Node project compiles them without the DOM lib or `skipLibCheck`.
 */
async function typeCheck (tsc, cwd, argv) {
  const { out } = await run(process.execPath, [tsc, ...argv], { cwd, expectCode: null })
  const errors = out.split('\n').filter(line => / error TS\d+:/.test(line))
  const ours = errors.filter(line => !line.startsWith('node_modules/') || line.startsWith('node_modules/@murmur/'))
  check(ours.length === 0, `type errors in Murmur's packages or the consumer (${argv.join(' ')}):\n${ours.join('\n')}`)
  const counts = {}
  for (const line of errors) {
    const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line)?.[1] ?? '?'
    counts[pkg] = (counts[pkg] ?? 0) + 1
  }
  return counts
}

async function main () {
  const started = performance.now()
  const names = PACKAGES.map(p => JSON.parse(readFileSync(join(root, p, 'package.json'), 'utf8')).name)
  if (!noBuild) await step('build', () => run(join(root, 'node_modules', '.bin', 'turbo'), ['run', 'build', ...names.map(n => `--filter=${n}`)], { timeoutMs: 300_000 }))

  tmp = mkdtempSync(join(tmpdir(), 'murmur-pack-'))
  const packed = await step('pack', async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp, ...PACKAGES.flatMap(p => ['-w', p])])
    const list = JSON.parse(stdout)
    for (const pkg of list) checkTarball(pkg)
    return list
  })

  const app = join(tmp, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'murmur-consumer', private: true, type: 'module' }, null, 2))
  const dev = rootPkg.devDependencies
  // the consumer builds its own tfjs model, as a user does: tfjs at the version Murmur uses
  const tfjs = JSON.parse(readFileSync(join(root, 'packages', 'protocol', 'package.json'), 'utf8')).dependencies['@tensorflow/tfjs']
  const installed = await step('install', async () => {
    const { out } = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...(omitPeer ? ['--omit=peer'] : []),
      ...packed.map(p => join(tmp, p.filename)), `@tensorflow/tfjs@${tfjs}`, `typescript@${dev.typescript}`, `@types/node@${dev['@types/node']}`], { cwd: app, timeoutMs: 300_000 })
    const added = /added (\d+) packages?/.exec(out)?.[1]
    return { added: Number(added), bytes: diskUse(join(app, 'node_modules')) }
  })

  for (const file of ['main.ts', 'browser.ts', 'tsconfig.node.json', 'tsconfig.browser.json']) copyFileSync(join(here, file), join(app, file))
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  const foreign = {}
  await step('tsc, Node project without DOM lib', async () => {
    foreign.node = await typeCheck(tsc, app, ['-p', 'tsconfig.node.json'])
    await run(process.execPath, [tsc, '-p', 'tsconfig.node.json', '--skipLibCheck', '--noEmit'], { cwd: app })
  })
  await step('tsc, browser project', async () => {
    foreign.browser = await typeCheck(tsc, app, ['-p', 'tsconfig.browser.json'])
    await run(process.execPath, [tsc, '-p', 'tsconfig.browser.json', '--skipLibCheck'], { cwd: app })
  })

  const { out: session } = await step('run consumer', () => run(process.execPath, ['dist/main.js'], { cwd: app, timeoutMs: 180_000 }))
  check(session.includes('consumer: OK'), `consumer did not report OK:\n${session}`)

  const bin = join(app, 'node_modules', '.bin', 'murmur')
  await step('installed murmur --help', async () => {
    check(existsSync(bin), 'node_modules/.bin/murmur is missing after install')
    const { out: help } = await run(bin, ['--help'], { cwd: app, timeoutMs: 30_000 })
    check(/relay/.test(help) && /agent/.test(help), `murmur --help did not list the commands:\n${help}`)
  })

  const old = existsSync(OLD_NODE) ? (await run(OLD_NODE, ['--version'])).stdout.trim() : undefined
  if (old != null && Number(old.replace(/^v/, '').split('.')[0]) < 22) {
    await step(`Node ${old} refused`, async () => {
      const versionFile = join(app, 'node_modules', '@murmur', 'node', 'dist', 'src', 'node-version.js')
      const probe = `import { assertNodeVersion } from ${JSON.stringify(versionFile)}; assertNodeVersion(); console.log('accepted')`
      const { out } = await run(OLD_NODE, ['--input-type=module', '-e', probe], { cwd: app, expectCode: 1 })
      check(out.trim() === `murmur needs Node 22 or newer (this is ${old})`, `assertNodeVersion on ${old} said: ${out}`)
      const { out: said } = await run(OLD_NODE, [bin, '--help'], { cwd: app, expectCode: 1 })
      check(said.trim() === `murmur needs Node 22 or newer (this is ${old})`, `murmur on ${old} said: ${said}`)
    })
  }

  const total = (performance.now() - started) / 1000
  console.log('')
  console.log('pack-check: tarballs')
  for (const p of packed) console.log(`  ${p.filename.padEnd(28)} ${(p.size / 1024).toFixed(0).padStart(5)} KiB packed, ${(p.unpackedSize / 1024).toFixed(0).padStart(5)} KiB unpacked, ${p.entryCount} files`)
  console.log(`pack-check: fresh install${omitPeer ? ' (--omit=peer)' : ''}: ${installed.added} packages, ${(installed.bytes / 2 ** 20).toFixed(0)} MiB in node_modules (with typescript and @types/node)`)
  for (const [project, counts] of Object.entries(foreign)) {
    const list = Object.entries(counts).map(([pkg, n]) => `${pkg} ${n}`).join(', ')
    console.log(`pack-check: ${project} project, skipLibCheck false: Murmur's .d.ts clean; other packages' .d.ts errors: ${list || 'none'}`)
  }
  console.log(`pack-check: OK in ${total.toFixed(0)} s`)
}

try {
  await main()
} catch (err) {
  console.log('')
  console.error(`pack-check: FAILED: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  cleanup()
}
