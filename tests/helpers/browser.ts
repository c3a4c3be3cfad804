// Headless Chromium for end-to-end tests: Debian's `chromium` package driven by playwright-core
// (which never downloads a browser of its own). Installed on demand when missing and possible.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';

const run = promisify(execFile);

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Without the networking flags Chromium keeps dialling Google's services, which this closed
// network refuses; --user-data-dir comes from launchPersistentContext (a fresh directory).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The browser's path, installing Debian's chromium if it is missing; or why there is none. */
export async function ensureChromium(): Promise<{ path: string } | { missing: string }> {
  if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
    await run('apt-get', ['install', '-y', '-qq', 'chromium'], { env, timeout: 900_000, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const detail = (e.stderr?.trim() || e.message).split('\n').slice(-3).join(' | ');
    return { missing: `${CHROMIUM_PATH} is missing and \`apt-get install -y chromium\` failed: ${detail}` };
  }
  return existsSync(CHROMIUM_PATH)
    ? { path: CHROMIUM_PATH }
    : { missing: `apt-get installed chromium but ${CHROMIUM_PATH} does not exist` };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh headless browser with an empty profile; close() removes the profile. */
export async function launchBrowser(executablePath: string, viewport = { width: 1400, height: 900 }): Promise<Browser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'pinit-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
