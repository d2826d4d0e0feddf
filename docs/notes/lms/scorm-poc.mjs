import { chromium } from '/work/main/e2e/node_modules/playwright-core/index.mjs';
const base = 'http://127.0.0.1:18089';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
const page = await (await browser.newContext({ baseURL: base })).newPage();
const lines = [];
page.on('console', (m) => lines.push(m.text())); page.on('response', (r) => { if (r.status() >= 400) lines.push('HTTP ' + r.status() + ' ' + r.url()); });
await page.goto('/login');
await page.fill('input[name=email]', 'admin@acme.example');
await page.fill('input[name=password]', 'scratch-pass-123');
await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
await page.goto('/p/scratch/player');
for (let i = 0; i < 50 && !lines.some((l) => l.includes('finish=true')); i++) await page.waitForTimeout(100);
await page.waitForTimeout(300);
await page.screenshot({ path: '/tmp/lms-host/scorm-poc.png' });
console.log(lines.join('\n'));
await browser.close();
