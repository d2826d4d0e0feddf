// Market development funds in the browser, on the demo's budgets and requests: a partner sees their funds and what
// to do next and requests funds (a mistake comes back on its field); a manager approves from the queue in part;
// staff read a budget's ledger and charts, create a budget, read ROI and download the finance CSV. Each page is
// checked with axe-core.
import assert from 'node:assert/strict';
import { accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner requests funds and a manager approves them in part', async (open) => {
  const alice = await open('alice@northwind.example');
  await visit(alice, '/p/mdf/');
  const main = await alice.locator('main').textContent();
  assert.match(main, /Reseller co-op fund/, 'the funds available');
  assert.match(main, /Seattle security roadshow/, 'the team\'s requests');
  await alice.getByRole('link', { name: 'Request funds' }).first().click();
  await alice.waitForLoadState();
  await accessible(alice);
  await alice.getByLabel('Kind of activity').selectOption('Webinar');
  await alice.getByLabel('Activity', { exact: true }).fill('Partner-led SASE webinar');
  const day = (n) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
  await alice.getByLabel('Starts').fill(day(10));
  await alice.getByLabel('Ends', { exact: true }).fill(day(11));
  await alice.getByLabel('Total cost').fill('4,000');
  await alice.getByLabel('Amount asked from the fund').fill('3,000');
  await alice.getByRole('button', { name: 'Submit for approval' }).click();
  await alice.waitForLoadState();
  // 50 % of the cost: refused on the field, what was typed kept.
  assert.match(await alice.locator('#e-asked').textContent(), /at most 2,000.00 USD/);
  assert.equal(await alice.getByLabel('Activity', { exact: true }).inputValue(), 'Partner-led SASE webinar');
  await accessible(alice);
  await alice.getByLabel('Amount asked from the fund').fill('1,800');
  await alice.getByRole('button', { name: 'Submit for approval' }).click();
  await alice.waitForURL((u) => /\/p\/mdf\/requests\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith('/new'));
  await accessible(alice);
  assert.match(await alice.locator('main').textContent(), /Waiting for the vendor's approval/);
  const url = new URL(alice.url()).pathname;

  const manager = await open('manager@acme.example');
  await visit(manager, '/p/mdf/');
  await manager.getByRole('link', { name: 'Partner-led SASE webinar' }).click();
  await manager.waitForLoadState();
  await accessible(manager);
  await manager.getByLabel('Approve (USD)').fill('1,500.00');
  await manager.getByRole('button', { name: 'Approve', exact: true }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('main').textContent(), /approved 1,500.00 USD/);
  await visit(alice, url);
  assert.match(await alice.locator('main').textContent(), /Run the activity, then claim/);
});

browserTest('staff read the ledger, create a budget, read ROI and export reimbursements', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/mdf/');
  assert.ok(await admin.locator('svg').count() > 0, 'utilisation charts');
  assert.match(await admin.locator('main').textContent(), /Leeds Digital Festival stand/, 'the queue');
  await visit(admin, '/p/mdf/budgets');
  await admin.getByRole('link', { name: 'Reseller co-op fund' }).click();
  await admin.waitForLoadState();
  await accessible(admin);
  const ledger = await admin.locator('main').textContent();
  assert.match(ledger, /reimbursement/);
  assert.match(ledger, /every balance equals the sum of its entries/);
  await admin.getByLabel('Add funds to').selectOption({ label: 'Fabrikam Systems' });
  await admin.getByLabel('Amount (USD)').fill('1,000');
  await admin.getByRole('button', { name: 'Add funds' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('main').textContent(), /41,000.00 USD/, 'allocated after the top-up');
  await accessible(admin);
  await visit(admin, '/p/mdf/budgets/new?program=msp');
  await admin.getByRole('button', { name: 'Create the budget' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('[role=alert]').textContent(), /Name the budget/);
  await accessible(admin);
  await admin.getByLabel('Name', { exact: true }).fill('MSP events fund');
  const day = (n) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
  await admin.getByLabel('Period starts').fill(day(0));
  await admin.getByLabel('Period ends').fill(day(90));
  await admin.getByLabel('Contoso Managed Services').fill('6,000');
  await admin.getByRole('button', { name: 'Create the budget' }).click();
  await admin.waitForURL((u) => /\/p\/mdf\/budgets\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith('/new'));
  assert.match(await admin.locator('main').textContent(), /6,000.00 USD/);
  await visit(admin, '/p/mdf/roi');
  await accessible(admin);
  assert.match(await admin.locator('main').textContent(), /Northwind Solutions/);
  await visit(admin, '/p/mdf/claims');
  await accessible(admin);
  const csv = await admin.evaluate(async () => (await fetch('/p/mdf/export.csv')).text());
  assert.match(csv, /^paid_on,partner,activity/);
  assert.match(csv, /Northwind Solutions,Seattle security roadshow,Reseller co-op fund,Co-op marketing,2500.00,USD,ACH 2026-1042/);
  const bob = await open('bob@northwind.example');
  await visit(bob, '/');
  assert.match(await bob.locator('main').textContent(), /My available funds/);
});
