// Browser end-to-end tests of the demo portal, in headless Chromium (Debian's, driven by playwright-core),
// with an axe-core accessibility check on every page they visit (no serious or critical violations).
//
// Run by `scripts/e2e`, which starts a fresh demo portal and sets:
//   PORTICO_URL   the portal's base URL
//   E2E_PACKAGE   a plugin package (.tar.gz) to upload in the install test
//   CHROMIUM      the browser executable (default /usr/bin/chromium)
//   E2E_RESULTS   where failure screenshots go (default ./test-results)
//
// The tests run in order and build on each other: the deal the partner registers is the one the manager approves.
import assert from 'node:assert/strict';
import { BASE, LOGO, accessible, browserTest, state, visit } from '../lib.mjs';

browserTest('the main pages pass the accessibility check for every role', async (open) => {
  const guest = await open();
  await visit(guest, '/login');
  const admin = await open('admin@acme.example');
  for (const url of ['/', '/admin/orgs', '/admin/users', '/admin/programs', '/admin/branding', '/admin/plugins',
    '/admin/templates', '/admin/templates/edit?name=login.html', '/admin/mail', '/admin/audit']) {
    await visit(admin, url);
  }
  // The settings menu, opened, passes too.
  await admin.goto('/');
  await admin.locator('.navmenu summary').click();
  await accessible(admin);
  const alice = await open('alice@northwind.example');
  for (const url of ['/', '/org', '/org/users', '/account']) await visit(alice, url);
});

browserTest('the CRM sync pages say what is wrong and answer their buttons', async (open) => {
  const admin = await open('admin@acme.example');
  // The demo has no Salesforce to reach: the page says so, and lists the approved deals that wait for it.
  await visit(admin, '/p/crm-salesforce/');
  await admin.getByRole('button', { name: 'Test connection' }).click();
  await admin.waitForLoadState();
  const alert = admin.locator('.alert[role=alert]');
  assert.match(await alert.textContent(), /not connected yet: set the connected app.s consumer key/);
  await accessible(admin);
  await visit(admin, '/p/crm-salesforce/?status=paused');
  // The HubSpot and Dynamics 365 connectors share the page.
  await visit(admin, '/p/crm-hubspot/');
  await visit(admin, '/p/crm-dynamics/');
  // The mapping editor shows the mapping in force and why the CRM's schema could not be read; saving says so
  // without losing anything.
  await visit(admin, '/p/crm-salesforce/mapping');
  assert.match(await admin.locator('.alert[role=alert]').first().textContent(), /schema could not be read: not connected yet/);
  assert.equal(await admin.locator('select[name="deal.amount"]').inputValue(), 'Amount');
  await admin.getByRole('button', { name: 'Save the mapping' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('.alert[role=alert]').first().textContent(), /Not saved: Salesforce could not be asked/);
  assert.equal(await admin.locator('select[name="deal.amount"]').inputValue(), 'Amount');
  await accessible(admin);
  await visit(admin, '/p/crm-dynamics/mapping');
  // The import offers the demo's partners and says why no opportunity can be listed.
  await visit(admin, '/p/crm-salesforce/import');
  assert.match(await admin.locator('#f-org_id').textContent(), /Northwind Solutions/);
  assert.match(await admin.locator('main').textContent(), /Salesforce could not be asked: not connected yet/);
});

browserTest('charts and partner cards are accessible markup without script', async (open) => {
  const manager = await open('manager@acme.example');
  await visit(manager, '/');
  // Deal registration's pipeline widget draws its chart with the host's chart(): an SVG image with a title and a
  // description, and the numbers as a table for screen readers.
  const chart = manager
    .locator('figure.pt-chart', { has: manager.locator('svg > title', { hasText: 'Deals by status' }) })
    .locator('svg[role=img]');
  await chart.waitFor();
  const [title, desc] = (await chart.getAttribute('aria-labelledby')).split(' ');
  assert.equal(await manager.locator(`[id="${title}"]`).textContent(), 'Deals by status');
  assert.match(await manager.locator(`[id="${desc}"]`).textContent(), /Awaiting approval \d/);
  assert.ok(await manager.locator('figure.pt-chart table.pt-sr-only th[scope=row]').count() >= 6);
  assert.equal(await manager.locator('figure.pt-chart script').count(), 0);
  // A partner's page shows each enabled plugin's card about that partner.
  const admin = await open('admin@acme.example');
  await admin.goto('/admin/orgs');
  await admin.getByRole('link', { name: 'Northwind Solutions', exact: true }).click();
  const card = admin.locator('.partner-card', { hasText: 'Deal registrations' });
  await card.waitFor();
  await accessible(admin);
});

browserTest('a partner registers a deal, sees the duplicate hint and finds it in "my deals"', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/deal-registration/new');
  // Contoso already registered Umbrella Corporation (umbrella.co.uk): the hint says so, without saying who.
  await bob.fill('#f-customer_name', 'Umbrella Corp');
  await bob.fill('#f-customer_domain', 'https://www.umbrella.co.uk/contact');
  const hint = bob.locator('#dr-hint');
  await hint.waitFor({ state: 'visible' });
  assert.match(await hint.innerText(), /may already exist/);
  assert.doesNotMatch(await hint.innerText(), /Contoso/);
  await accessible(bob);
  await bob.fill('#f-country', 'GB');
  await bob.fill('#f-amount', '42,500');
  await bob.selectOption('#f-currency', 'GBP');
  await bob.check('input[name=products][value="Managed SD-WAN"]');
  await bob.fill('#f-expected_close_date', '2027-05-31');
  await bob.fill('#f-contact_name', 'Albert Wesker');
  await Promise.all([
    bob.waitForURL(/\/p\/deal-registration\/deals\/[^/?]+\?done=submitted/),
    bob.getByRole('button', { name: 'Submit for approval' }).click(),
  ]);
  state.deal = new URL(bob.url()).pathname;
  await bob.getByText('Awaiting approval').first().waitFor();
  await bob.getByText('Another registration may exist for this customer').waitFor();
  await accessible(bob);
  await visit(bob, '/p/deal-registration/');
  await bob.getByRole('link', { name: 'Umbrella Corp', exact: true }).waitFor();
});

browserTest('a channel manager approves it from the queue', async (open) => {
  assert.ok(state.deal, 'the registration test ran first');
  const manager = await open('manager@acme.example');
  await visit(manager, '/p/deal-registration/queue');
  await Promise.all([manager.waitForURL(`**${state.deal}`), manager.getByRole('link', { name: 'Umbrella Corp', exact: true }).click()]);
  await accessible(manager);
  await manager.getByRole('link', { name: /Compare \d+ possible duplicate/ }).click();
  await manager.getByText('Contoso Managed Services').first().waitFor();
  await accessible(manager);
  await manager.goBack();
  await Promise.all([manager.waitForURL(/done=approved/), manager.getByRole('button', { name: 'Approve' }).click()]);
  await manager.getByText('Approved: the deal is protected.').waitFor();
});

browserTest('the partner sees the approval and the notification', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, state.deal);
  await bob.getByText('Protected until').waitFor();
  await visit(bob, '/notifications');
  await bob.getByText('Deal approved: Umbrella Corp').first().waitFor();
  await visit(bob, '/');
  await bob.getByText('Deal pipeline').waitFor();
});

browserTest('a vendor admin changes the brand colour and logo and the partner pages show them', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/admin/branding');
  await admin.locator('#f-primary_color').fill('#0a7d3b');
  await admin.setInputFiles('#f-logo', { name: 'logo.png', mimeType: 'image/png', buffer: LOGO });
  await Promise.all([admin.waitForNavigation(), admin.getByRole('button', { name: 'Save branding' }).click()]);
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/deal-registration/');
  const primary = await bob.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--primary').trim());
  assert.equal(primary.toLowerCase(), '#0a7d3b');
  const logo = bob.locator('header img[src*="/media/"]').first();
  await logo.waitFor();
  assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth > 0), 'the logo loads');
});

browserTest('an admin installs, grants and enables a plugin and a partner sees its navigation entry', async (open) => {
  const pkg = process.env.E2E_PACKAGE;
  assert.ok(pkg, 'E2E_PACKAGE names a plugin package');
  const admin = await open('admin@acme.example');
  await visit(admin, '/admin/plugins');
  await admin.setInputFiles('#f-package', pkg);
  await Promise.all([admin.waitForURL(/\/admin\/plugins\/guestbook-e2e/), admin.getByRole('button', { name: 'Upload' }).click()]);
  await admin.getByText('What it asks for').waitFor();
  await admin.getByText('Stores entries records').waitFor();
  await accessible(admin);
  const reseller = admin.locator('form', { has: admin.getByRole('button', { name: 'Save for Reseller' }) });
  await reseller.getByRole('checkbox', { name: /Enabled for Reseller partners/ }).check();
  await Promise.all([admin.waitForNavigation(), reseller.getByRole('button', { name: 'Save for Reseller' }).click()]);
  const bob = await open('bob@northwind.example');
  await bob.goto('/');
  const nav = bob.getByRole('link', { name: 'Guestbook E2E' });
  await nav.waitFor();
  await Promise.all([bob.waitForURL('**/p/guestbook-e2e/'), nav.click()]);
  await accessible(bob);
  // A partner of a program where it is not enabled does not see it.
  const dave = await open('dave@contoso.example');
  await dave.goto('/');
  assert.equal(await dave.getByRole('link', { name: 'Guestbook E2E' }).count(), 0);
});
