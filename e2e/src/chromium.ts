import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'

/** Where Debian's package puts Chromium; never a downloaded browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Options of `launchChromium`. */
export interface LaunchOptions {
  /** Offer WebGPU (SwiftShader on a machine without a GPU). @default false */
  webgpu?: boolean
  /** Extra Chromium switches. */
  args?: string[]
}

/** Install Debian's chromium when it is missing and we may (root); otherwise say what to do. */
function ensureChromium (): void {
  if (existsSync(CHROMIUM_PATH)) return
  if (process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'inherit', timeout: 300_000 })
    if (existsSync(CHROMIUM_PATH)) return
  }
  throw new Error(`${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y chromium); the e2e tests never download a browser`)
}

/** Launch headless Debian Chromium with the switches WebRTC and WebGPU need on these machines. */
export async function launchChromium (options: LaunchOptions = {}): Promise<Browser> {
  ensureChromium()
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // mDNS host candidates hide the page's address; a peer on another host cannot resolve them
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      ...(options.webgpu === true ? ['--enable-unsafe-webgpu'] : []),
      ...(options.args ?? [])
    ]
  })
}

/** Copy a page's console lines and uncaught errors into `lines`, prefixed with `name`. */
export function collectConsole (page: Page, lines: string[], name: string): void {
  page.on('console', msg => { lines.push(`[${name}] ${msg.type()}: ${msg.text()}`) })
  page.on('pageerror', err => { lines.push(`[${name}] pageerror: ${err.message}`) })
}
