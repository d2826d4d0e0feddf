// Plugin UI is contained: the hostile UI test plugin (tests/plugins/hostile-ui) puts everything it can think of
// into its pages (inline and external scripts, event handlers, javascript: and data: links, <base>, meta refresh,
// iframes of admin pages, forms aimed at /admin, SVG and MathML tricks, styles that fetch) and a custom client in
// a sandboxed frame. Opened as the vendor admin in Chromium, nothing of it may run: no dialog, no request to its
// beacon, no mark on the window, no request off the portal, no admin setting changed. Its pages pass axe.
//
// Needs E2E_HOSTILE_PACKAGE (scripts/e2e packages tests/plugins/hostile-ui).
import assert from 'node:assert/strict';
import { BASE, accessible, browserTest } from '../lib.mjs';

/** Watches a page for anything a plugin script could have done. */
function watch(page) {
  const seen = { dialogs: [], beacons: [], offsite: [], console: [] };
  page.on('dialog', (d) => {
    seen.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    const url = r.url();
    if (url.includes('/beacon')) seen.beacons.push(url);
    if (!url.startsWith(BASE) && !url.startsWith('data:') && !url.startsWith('about:')) seen.offsite.push(url);
  });
  page.on('console', (m) => seen.console.push(m.text()));
  return seen;
}

async function hits(page) {
  const res = await page.request.get('/api/v1/p/hostile-ui/hits');
  assert.equal(res.status(), 200);
  return (await res.json()).hits;
}

browserTest('a hostile plugin is installed and its pages run none of its script', async (open) => {
  const pkg = process.env.E2E_HOSTILE_PACKAGE;
  assert.ok(pkg, 'E2E_HOSTILE_PACKAGE names the hostile UI package');
  const admin = await open('admin@acme.example');
  await admin.goto('/admin/plugins');
  await admin.setInputFiles('#f-package', pkg);
  await Promise.all([admin.waitForURL(/\/admin\/plugins\/hostile-ui/), admin.getByRole('button', { name: 'Upload' }).click()]);
  await accessible(admin);
  const reseller = admin.locator('form', { has: admin.getByRole('button', { name: 'Save for Reseller' }) });
  await reseller.getByRole('checkbox', { name: /Enabled for Reseller partners/ }).check();
  await Promise.all([admin.waitForNavigation(), reseller.getByRole('button', { name: 'Save for Reseller' }).click()]);
  const portalName = await admin.locator('.brand-name').first().innerText();

  const seen = watch(admin);
  const res = await admin.goto('/p/hostile-ui/');
  assert.equal(res.status(), 200);
  await admin.waitForTimeout(1500);
  assert.equal(await admin.evaluate(() => window.__pwned), undefined, 'no plugin script ran');
  assert.equal(await admin.evaluate(() => document.baseURI), `${BASE}/p/hostile-ui/`, 'no <base> took effect');
  assert.equal(new URL(admin.url()).pathname, '/p/hostile-ui/', 'no meta refresh moved the page');
  await accessible(admin);
  // The user is tricked into clicking everything the plugin offers.
  for (const id of ['#rogue-submit', '#formaction-submit']) {
    await admin.goto('/p/hostile-ui/');
    await Promise.all([admin.waitForLoadState('load'), admin.locator(id).click()]);
    await admin.waitForTimeout(300);
  }
  for (const id of ['#js-link', '#js-link-ctx', '#data-link']) {
    await admin.goto('/p/hostile-ui/');
    await admin.locator(id).click();
    await admin.waitForTimeout(300);
    assert.ok(admin.url().startsWith(BASE), `${id} took the page off the portal: ${admin.url()}`);
  }
  // The dashboard shows its widget, which runs nothing either.
  await admin.goto('/');
  await admin.getByText('Trap <script>alert(\'widget\')</script>').waitFor();
  await admin.waitForTimeout(500);
  await accessible(admin);

  assert.deepEqual(seen.dialogs, [], 'no dialog opened');
  assert.deepEqual(seen.beacons, [], 'nothing reached the beacon from the page');
  assert.deepEqual(seen.offsite, [], 'nothing left the portal');
  assert.deepEqual(await hits(admin), [], 'the plugin recorded no hit');
  await admin.goto('/admin/branding');
  assert.equal(await admin.locator('.brand-name').first().innerText(), portalName, 'the admin settings are unchanged');
});

browserTest('custom client code runs only in its sandboxed frame and reaches only its own routes', async (open) => {
  const admin = await open('admin@acme.example');
  const seen = watch(admin);
  await admin.goto('/p/hostile-ui/frame');
  const frame = admin.frameLocator('iframe.pt-frame');
  await frame.locator('#out').filter({ hasText: 'done' }).waitFor({ timeout: 15000 });
  const said = Object.fromEntries(
    seen.console.filter((m) => m.startsWith('frame:')).map((m) => m.slice(6).split('=')),
  );
  assert.equal(said['parent-dom'], 'blocked', 'the frame cannot read the portal page');
  assert.notEqual(said.cookie, 'readable', 'the frame has no session cookie');
  assert.equal(said['direct-fetch'], 'blocked', 'the frame cannot call the portal itself');
  assert.equal(said['bridge-own'], '200', 'the bridge reaches the plugin own JSON route');
  assert.equal(said['bridge-host'], '403', 'the bridge refuses the host API');
  assert.equal(said['bridge-other-plugin'], '403', 'the bridge refuses another plugin');
  assert.equal(await admin.locator('iframe.pt-frame').getAttribute('sandbox'), 'allow-scripts allow-forms');
  assert.deepEqual(await hits(admin), ['frame-ping'], 'only the bridged call arrived');
  assert.deepEqual(seen.dialogs, []);
  await accessible(admin);
});
