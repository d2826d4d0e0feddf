// Shared by the browser tests: a browser, sessions signed in as demo users, failure screenshots, the axe check.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import axe from 'axe-core';

export const BASE = (process.env.PORTICO_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const RESULTS = path.resolve(process.env.E2E_RESULTS || 'test-results');
const PASSWORD = 'portico-demo';
// A 2×2 PNG for the logo upload.
export const LOGO = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGNgYGD4z8DAwMDAwMDAAAANBAEAn3pXbwAAAABJRU5ErkJggg==',
  'base64',
);

export let browser;
export const state = {};

before(async () => {
  await mkdir(RESULTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** A test with its own browser sessions; on failure every page it opened is saved as a screenshot. */
export function browserTest(name, body) {
  test(name, async () => {
    const pages = [];
    const open = async (email) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE });
      const page = await context.newPage();
      pages.push(page);
      if (email) {
        await page.goto('/login');
        await page.fill('input[name=email]', email);
        await page.fill('input[name=password]', PASSWORD);
        await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
      }
      return page;
    };
    try {
      await body(open);
    } catch (e) {
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      for (const [i, p] of pages.entries()) {
        const file = path.join(RESULTS, `${slug}-${i}.png`);
        await p.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`screenshot of ${p.url()}: ${file}`);
      }
      throw e;
    } finally {
      for (const p of pages) await p.context().close();
    }
  });
}

/** Fails on serious or critical accessibility violations of the page as it is now. */
export async function accessible(page) {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern (an injected
  // <script> would be refused by it, as it should be).
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `accessibility of ${page.url()}`);
}

export async function visit(page, url) {
  const res = await page.goto(url);
  assert.ok(res.ok(), `${url} answered ${res.status()}`);
  await accessible(page);
}

