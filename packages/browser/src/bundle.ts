/**
 * Entry of the one-file CDN build (`dist/murmur.iife.js`, global `Murmur`): the SDK as it
 * is, with tfjs's .wasm files looked up next to the script itself (the build copies them there).
 */
import { setDefaultWasmPaths } from './backend.js'

const script = typeof document !== 'undefined' ? document.currentScript : null
if (script instanceof HTMLScriptElement && script.src !== '') setDefaultWasmPaths(new URL('./', script.src).href)

export * from './index.js'
