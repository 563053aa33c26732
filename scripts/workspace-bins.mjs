#!/usr/bin/env node
/**
 * Links the workspace packages' commands (`bin` in their package.json) into the root
 * `node_modules/.bin`, so `npx murmur …` in a clone runs this repository's CLI.
 *
 * Why: npm links a workspace's bin only when its target file exists at install time
 * (bin-links skips a missing target silently), and ours is a build output
 * (`packages/node/dist/src/cli.js`). After `npm ci` in a fresh clone there was no link,
 * so `npx murmur` fetched the unrelated npm package named `murmur`. Run as the root
 * `postinstall`: where a target is not built yet it writes a placeholder that says so
 * (the build overwrites it), makes it executable and links it the way npm would.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const binDir = join(root, 'node_modules', '.bin')

/** The workspace folders named by the root package.json (`dir` or `dir/*` patterns). */
function workspaceDirs () {
  const { workspaces = [] } = readJson(join(root, 'package.json'))
  return workspaces.flatMap(pattern => {
    if (!pattern.endsWith('/*')) return [join(root, pattern)]
    const parent = join(root, pattern.slice(0, -2))
    if (!existsSync(parent)) return []
    return readdirSync(parent, { withFileTypes: true }).filter(d => d.isDirectory()).map(d => join(parent, d.name))
  }).filter(dir => existsSync(join(dir, 'package.json')))
}

function readJson (file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** A package's bins as `{ command: relative path }`, whether `bin` is a string or a map. */
function binsOf (pkg) {
  if (typeof pkg.bin === 'string') return { [pkg.name.replace(/^@[^/]+\//, '')]: pkg.bin }
  return pkg.bin ?? {}
}

const placeholder = (command) => `#!/usr/bin/env node
// Placeholder written by scripts/workspace-bins.mjs at install time; the build replaces it.
process.stderr.write('${command}: not built yet; run \`npm run build\` in ${root.replace(/['\\]/g, '')} first\\n')
process.exit(1)
`

for (const dir of workspaceDirs()) {
  const pkg = readJson(join(dir, 'package.json'))
  for (const [command, path] of Object.entries(binsOf(pkg))) {
    const target = resolve(dir, path)
    if (!existsSync(target)) {
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, placeholder(command))
    }
    chmodSync(target, 0o755)

    // npm's own layout: .bin/<command> -> ../<package name>/<path>, through the workspace link
    const link = join(binDir, command)
    const want = relative(binDir, join(root, 'node_modules', pkg.name, path))
    let have = null
    try {
      if (lstatSync(link).isSymbolicLink()) have = readlinkSync(link)
      else continue // a real file someone put there: leave it
    } catch {}
    if (have === want) continue
    if (have != null) unlinkSync(link)
    mkdirSync(binDir, { recursive: true })
    symlinkSync(want, link)
  }
}
