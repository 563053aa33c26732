/**
 * Harness for Murmur's end-to-end tests: real Chromium pages and Node agents in one mesh.
 *
 *   launchChromium(options?)          Debian's /usr/bin/chromium through playwright-core, with the
 *                                     flags that work on these machines; `{ webgpu: true }` adds
 *                                     `--enable-unsafe-webgpu`. Returns a playwright `Browser`.
 *   startRelay()                      an in-process `murmur relay` (runRelay) on 127.0.0.1 with TCP
 *                                     and WebSockets; `.ws` is the address pages bootstrap from,
 *                                     `.tcp` the one Node agents use.
 *   startAgents(options)              Node peers (createNodePeer + SessionPeer) training MNIST slices in
 *                                     this process, advertising the session so pages find them.
 *   serveVite(root, options?)         a Vite dev server for a test page (or an app) on 127.0.0.1,
 *                                     with MNIST slices at `/mnist/<train|test>-<images|labels>?offset=&count=`
 *                                     (valid IDX files: parse them with `datasetFromIdx`).
 *   mnistPlugin()                     that MNIST route alone, as a Vite plugin for your own config.
 *   collectConsole(page, lines)       copy a page's console and errors into an array (for failures).
 *
 * Every helper returns something with `close()`/`stop()`; call it in `afterAll`. Nothing here
 * touches anything but loopback and this machine's own interfaces.
 */
export { launchChromium, collectConsole } from './chromium.js'
export type { LaunchOptions } from './chromium.js'
export { startRelay } from './relay.js'
export type { TestRelay } from './relay.js'
export { startAgents } from './agents.js'
export type { StartAgentsOptions, TestAgent, TestAgents } from './agents.js'
export { serveVite, mnistPlugin } from './vite.js'
export type { ServeViteOptions, ViteServer } from './vite.js'
