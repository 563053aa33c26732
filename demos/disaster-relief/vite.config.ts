import { defineConfig } from 'vite'

// `npm run dev` serves the app with hot reload; the data, config and control routes come
// from a running `murmur demo` (default port 8080), the one server that owns the agents.
const demo = process.env.MURMUR_DEMO_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  server: {
    host: '127.0.0.1',
    proxy: { '/config.json': demo, '/api': demo, '/data': demo }
  },
  build: {
    target: 'es2023',
    chunkSizeWarningLimit: 4096
  }
})
