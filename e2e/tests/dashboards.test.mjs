// The dashboards in the browser, on the demo's history: a partner's home page (what to do next, every plugin's
// widget loaded, no channel figure); the vendor's channel dashboard over a chosen range, with a figure's partners and
// the CSV export; a partner's 360 page with the plugins' cards and its timeline; all three in both themes. Each page
// is checked with axe-core. With SCREENSHOT_DIR set, the pages are saved there as PNGs (both themes).
import assert from 'node:assert/strict';
import path from 'node:path';
import { accessible, browserTest, visit } from '../lib.mjs';

const SHOTS = process.env.SCREENSHOT_DIR;

async function shot(page, name) {
  await page.waitForLoadState('networkidle');
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Picks a theme on the branding form, as a vendor admin would. */
async function setTheme(admin, theme) {
  await admin.goto('/admin/branding');
  await admin.check(`input[name=theme][value=${theme}]`);
  await Promise.all([admin.waitForNavigation(), admin.getByRole('button', { name: 'Save branding' }).click()]);
}

async function partnerHome(page, name) {
  await visit(page, '/');
  await page.waitForLoadState('networkidle');
  const main = await page.locator('main').textContent();
  assert.match(main, /What to do next/);
  assert.doesNotMatch(main, /Monthly active partners|Export CSV/, 'no channel figures for a partner');
  assert.equal(await page.locator('[data-pt-widget][aria-busy]').count(), 0, 'every widget loaded');
  await accessible(page);
  await shot(page, name);
  return main;
}

async function vendorHome(page, name) {
  await visit(page, '/');
  const main = await page.locator('main').textContent();
  for (const figure of ['Monthly active partners', 'Deals registered', 'Won revenue', 'Courses completed', 'Partners by tier', 'Sign-in recency']) {
    assert.match(main, new RegExp(figure), figure);
  }
  await shot(page, name);
}

async function partner360(page, name) {
  await page.goto('/admin/orgs');
  await page.getByRole('link', { name: 'Northwind Solutions', exact: true }).click();
  await page.waitForLoadState();
  await accessible(page);
  const main = await page.locator('main').textContent();
  assert.match(main, /Recent activity/);
  assert.match(main, /Deal registered|Deal won|Moved up/, 'the timeline has the partner\'s activity');
  assert.match(main, /Deal registrations/, 'the plugins\' cards');
  await shot(page, name);
}

browserTest('a partner\'s home page: what to do next and every widget, its own figures only', async (open) => {
  const bob = await open('bob@northwind.example');
  const main = await partnerHome(bob, 'dashboard-partner-next-steps');
  assert.match(main, /Deal pipeline/);
  const carol = await open('carol@fabrikam.example');
  const hers = await partnerHome(carol, 'dashboard-partner-admin');
  assert.doesNotMatch(hers, /Northwind/, 'nothing of another partner');
  for (const url of ['/admin/channel.csv', '/admin/channel/deal-registration.submitted']) {
    const res = await carol.request.get(url);
    assert.equal(res.status(), 403, url);
  }
});

browserTest('the channel dashboard over a chosen range, a figure\'s partners and the CSV export', async (open) => {
  const manager = await open('manager@acme.example');
  await vendorHome(manager, 'dashboard-channel');
  await manager.getByRole('link', { name: 'Last 90 days' }).click();
  await manager.waitForLoadState();
  assert.match(manager.url(), /from=\d{4}-\d{2}-\d{2}&to=/);
  await accessible(manager);
  assert.match(await manager.locator('.range-caption').textContent(), /compared with/);
  // The partners behind a figure, and their CSV.
  await manager.getByRole('link', { name: 'Partners behind Deals registered' }).click();
  await manager.waitForLoadState();
  await accessible(manager);
  assert.match(await manager.locator('h1').textContent(), /Deals registered/);
  assert.match(await manager.locator('main table').textContent(), /Northwind Solutions/);
  const csv = await manager.request.get(await manager.getByRole('link', { name: 'Export CSV' }).getAttribute('href'));
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /text\/csv/);
  assert.match(await csv.text(), /^name,currency,value,from,to/);
  // The whole report as CSV.
  await manager.goto('/');
  const all = await manager.request.get(await manager.getByRole('link', { name: 'Export CSV' }).getAttribute('href'));
  assert.match(await all.text(), /^metric,label,currency,from,to,value,previous_from,previous_to,previous,change_percent\n/);
  assert.match(await all.text(), /\ndeal-registration\.submitted,Deals registered,,/);
  // A range backwards is named on the form, and the page still shows the last 30 days.
  await manager.getByLabel('From').fill('2026-06-30');
  await manager.getByLabel('To').fill('2026-06-01');
  await manager.getByRole('button', { name: 'Show' }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('[role=alert]').textContent(), /the start must not be after the end/);
  await accessible(manager);
});

browserTest('a partner\'s 360 page: the plugins\' cards and the partner\'s timeline', async (open) => {
  const admin = await open('admin@acme.example');
  await partner360(admin, 'partner-360');
});

browserTest('the three dashboards in the midnight theme', async (open) => {
  const admin = await open('admin@acme.example');
  await setTheme(admin, 'midnight');
  try {
    const bob = await open('bob@northwind.example');
    await partnerHome(bob, 'dashboard-partner-next-steps-midnight');
    const manager = await open('manager@acme.example');
    await vendorHome(manager, 'dashboard-channel-midnight');
    await partner360(admin, 'partner-360-midnight');
  } finally {
    await setTheme(admin, 'default');
  }
});
