/**
 * The CDN build: `npm run bundle` writes `dist/bundle/murmur.iife.js` (global `Murmur`, e.g.
 * `Murmur.joinSession`) and, beside it, tfjs's .wasm files, which `src/bundle.ts` points
 * tfjs at. The npm package itself is plain `tsc` output; bundlers tree-shake that.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { defineConfig } from 'vite'
import type { Plugin } from 'vite'

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']

function copyTfjsWasm (): Plugin {
  return {
    name: 'murmur-copy-tfjs-wasm',
    generateBundle () {
      const dir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')
      for (const fileName of WASM_FILES) this.emitFile({ type: 'asset', fileName, source: readFileSync(join(dir, fileName)) })
    }
  }
}

export default defineConfig({
  plugins: [copyTfjsWasm()],
  build: {
    outDir: 'dist/bundle',
    emptyOutDir: true,
    target: 'es2023',
    // threaded WASM in a minified build breaks tfjs's workers; keep names readable
    minify: false,
    sourcemap: true,
    lib: {
      entry: 'src/bundle.ts',
      name: 'Murmur',
      formats: ['iife'],
      fileName: () => 'murmur.iife.js'
    }
  }
})
