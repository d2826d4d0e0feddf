// Tiers and incentives in the browser, on the demo's criteria, deals and campaign: a partner sees its tier, its
// progress to the next one and its rewards (a rebate and a SPIFF on the deal it won); a manager approves the
// promotion its figures earned from the queue, and the partner is at the new tier; the criteria form says what is
// wrong on its field. Each page is checked with axe-core.
import assert from 'node:assert/strict';
import { accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner sees its standing and rewards, and a manager approves its promotion', async (open) => {
  const carol = await open('carol@fabrikam.example');
  await visit(carol, '/p/incentives/?program=reseller');
  let main = await carol.locator('main').textContent();
  assert.match(main, /Your tier: Registered/);
  assert.match(main, /qualify for Silver/, 'the won Acme Hotels deal and two approvals earn Silver');
  assert.match(main, /Rebate 1 % at Registered/);
  assert.match(main, /SPIFF: Cloud Firewall winter push/);
  assert.ok(await carol.locator('main svg').count() > 0, 'progress gauges');

  const manager = await open('manager@acme.example');
  await visit(manager, '/p/incentives/?program=reseller');
  const queue = manager.locator('.inc-queue li', { hasText: 'Fabrikam Systems' });
  assert.match(await queue.textContent(), /Registered → Silver/);
  assert.match(await queue.textContent(), /won revenue 36,000.00 USD ≥ 30,000.00 USD/);
  await queue.getByRole('button', { name: 'Approve' }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('[role=status]').textContent(), /Tier change approved/);
  await accessible(manager);
  const silver = await manager.locator('section', { hasText: 'Partners by tier' }).textContent();
  assert.match(silver, /Silver \(1\)/);

  await visit(carol, '/p/incentives/?program=reseller');
  main = await carol.locator('main').textContent();
  assert.match(main, /Your tier: Silver/);
  assert.match(main, /Tier history/);
});

browserTest('staff set criteria with a field error, see a partner and run a payout', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/incentives/criteria?program=reseller');
  assert.equal(await admin.getByLabel('Won revenue for Silver').inputValue(), '30,000.00');
  await admin.getByLabel('Rolling period (months)').fill('99');
  await admin.getByRole('button', { name: 'Save and recalculate' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('#e-rolling').textContent(), /the rolling period is 1 to 36 months/);
  assert.equal(await admin.getByLabel('Rolling period (months)').inputValue(), '99', 'what was typed is kept');
  await accessible(admin);
  await visit(admin, '/p/incentives/?program=reseller');
  await admin.getByRole('link', { name: 'Northwind Solutions' }).first().click();
  await admin.waitForLoadState();
  await accessible(admin);
  const nw = await admin.locator('main').textContent();
  assert.match(nw, /Gold/);
  assert.match(nw, /Record a custom metric/);
  await visit(admin, '/p/incentives/?program=reseller');
  await admin.getByRole('button', { name: 'Run payout' }).click();
  await admin.waitForLoadState();
  await accessible(admin);
  assert.match(await admin.locator('[role=status]').textContent(), /Payout run done/);
  await visit(admin, '/p/incentives/campaigns?program=reseller');
  assert.match(await admin.locator('main').textContent(), /Cloud Firewall winter push/);
});
