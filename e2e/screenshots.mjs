// Full-page screenshots of the Portico demo portal, in both bundled themes.
//
// Needs a running demo server (`portico demo`) and Debian's Chromium (/usr/bin/chromium).
// Run:   cd e2e && npm install && node screenshots.mjs
// Env:   PORTICO_URL     base URL of the portal   (default http://127.0.0.1:8080)
//        SCREENSHOT_DIR  where the PNGs go         (default ../docs/screenshots)
//
// The script switches the portal to the "midnight" theme through the real branding
// form and switches it back to "default" when it is done (also when it fails).
import { chromium } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const BASE = (process.env.PORTICO_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const OUT = path.resolve(process.env.SCREENSHOT_DIR
  || fileURLToPath(new URL('../docs/screenshots', import.meta.url)));
const PASSWORD = 'portico-demo';

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

/** A fresh browser context (own cookies); signed in through the real form when `email` is given. */
async function session(email) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: BASE });
  const page = await context.newPage();
  if (email) {
    await page.goto('/login');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([page.waitForURL((url) => url.pathname !== '/login'), page.click('button[type=submit]')]);
  }
  return page;
}

async function shot(page, urlPath, name) {
  const res = await page.goto(urlPath);
  await page.waitForLoadState('networkidle');
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`${String(res?.status()).padEnd(3)} ${urlPath.padEnd(16)} -> ${path.relative(process.cwd(), file)}`);
}

/** Picks a theme in /admin/branding and saves the form, as a vendor admin would. */
async function setTheme(page, theme) {
  await page.goto('/admin/branding');
  await page.check(`input[name=theme][value=${theme}]`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save branding' }).click()]);
  const css = await page.locator('link[rel=stylesheet]').first().getAttribute('href');
  if (!css.includes(`/static/${theme}/`)) throw new Error(`theme ${theme} not applied (stylesheet ${css})`);
  console.log(`theme -> ${theme}`);
}

await mkdir(OUT, { recursive: true });
const guest = await session();
const bob = await session('bob@northwind.example');
const alice = await session('alice@northwind.example');
const admin = await session('admin@acme.example');

try {
  await shot(guest, '/login', 'login');
  await shot(bob, '/', 'dashboard-partner');
  await shot(admin, '/', 'dashboard-admin');
  await shot(admin, '/admin/orgs', 'admin-orgs');
  await shot(admin, '/admin/users', 'admin-users');
  await shot(admin, '/admin/branding', 'admin-branding');
  await shot(admin, '/admin/templates', 'admin-templates');
  await shot(admin, '/admin/templates/edit?name=login.html', 'admin-template-edit');
  await admin.goto('/');
  await admin.locator('.navmenu summary').click();
  await admin.screenshot({ path: path.join(OUT, 'nav-settings.png') });
  console.log('    settings menu    -> nav-settings.png');
  await shot(alice, '/org', 'org-profile');
  await shot(admin, '/no-such-page', 'not-found');
  const manager = await session('manager@acme.example');
  await shot(manager, '/', 'dashboard-manager-widgets');
  await shot(bob, '/p/deal-registration/', 'deals-partner');
  await shot(bob, '/p/deal-registration/new', 'deal-new');
  await shot(manager, '/p/deal-registration/queue', 'deals-queue');
  await manager.getByRole('link', { name: 'Globex Inc.', exact: true }).click();
  await shot(manager, new URL(manager.url()).pathname, 'deal-manager');
  await shot(manager, new URL(manager.url()).pathname + '/conflicts', 'deal-conflicts');
  await admin.goto('/admin/orgs');
  await admin.getByRole('link', { name: 'Northwind Solutions', exact: true }).click();
  await shot(admin, new URL(admin.url()).pathname, 'admin-org-cards');
  await shot(admin, '/p/crm-salesforce/', 'crm-salesforce-sync');
  await shot(admin, '/p/crm-salesforce/mapping', 'crm-salesforce-mapping');
  await shot(bob, '/p/lms/', 'lms-catalogue');
  await shot(bob, '/p/lms/my', 'lms-my-learning');
  await shot(admin, '/p/lms/reports', 'lms-report');
  await shot(admin, '/p/lms/import', 'lms-import');
  await shot(bob, '/p/content/', 'content-library');
  await shot(admin, '/p/content/analytics', 'content-analytics');
  await shot(bob, '/p/co-branding/', 'co-branding-templates');
  await bob.getByRole('link', { name: 'Cloud Firewall flyer' }).click();
  await shot(bob, new URL(bob.url()).pathname, 'co-branding-template-partner');
  await shot(bob, '/p/co-branding/generated', 'co-branding-documents');
  await shot(admin, '/p/co-branding/approvals', 'co-branding-approvals');
  await shot(admin, '/p/co-branding/analytics', 'co-branding-analytics');
  await shot(bob, '/p/mdf/', 'mdf-partner');
  await bob.getByRole('link', { name: 'Seattle security roadshow' }).click();
  await shot(bob, new URL(bob.url()).pathname, 'mdf-request');
  await shot(manager, '/p/mdf/', 'mdf-queue');
  await admin.goto('/p/mdf/budgets');
  await admin.getByRole('link', { name: 'Reseller co-op fund' }).click();
  await shot(admin, new URL(admin.url()).pathname, 'mdf-budget');
  await shot(admin, '/p/mdf/roi', 'mdf-roi');
  await shot(bob, '/p/incentives/?program=reseller', 'incentives-partner');
  await shot(manager, '/p/incentives/?program=reseller', 'incentives-manager');
  await shot(admin, '/p/incentives/criteria?program=reseller', 'incentives-criteria');
  await shot(bob, '/p/gamification/', 'gamification-partner');
  await shot(bob, '/p/gamification/leaderboard?scope=partners', 'gamification-partners-board');
  await shot(manager, '/p/gamification/', 'gamification-staff');
  // Alice's SCORM course, in progress: the package runs in the sandboxed player and resumes at her screen.
  await alice.goto('/p/lms/my');
  await alice.getByRole('link', { name: 'Firewall policy essentials' }).click();
  await alice.getByRole('link', { name: 'Resume' }).click();
  await alice.frameLocator('iframe.pt-frame').frameLocator('#sco').locator('h1').filter({ hasText: 'Order matters' }).waitFor();
  await shot(alice, new URL(alice.url()).pathname, 'lms-scorm');

  await setTheme(admin, 'midnight');
  await shot(guest, '/login', 'login-midnight');
  await shot(bob, '/', 'dashboard-partner-midnight');
  await shot(admin, '/', 'dashboard-admin-midnight');
  await shot(manager, '/', 'dashboard-manager-widgets-midnight');
} finally {
  await setTheme(admin, 'default').catch((e) => console.error('could not restore the default theme:', e));
  await browser.close();
}
