// Co-branding in the browser, on the demo's templates: a partner makes their flyer (and sees why a message that
// cannot fit is refused), staff approve it, the partner shares it and the link opens without signing in; staff
// read the template, run a batch and read the analytics. Each page is checked with axe-core.
import assert from 'node:assert/strict';
import { BASE, accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner makes their flyer, staff approve it, and its share link opens for anyone', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/co-branding/');
  assert.match(await bob.locator('main').textContent(), /Demo invitation email/, 'reseller templates');
  await bob.getByRole('link', { name: 'Cloud Firewall flyer' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  const message = bob.getByLabel(/Your message to customers/);
  // One word wider than the line, even at the smallest size: refused with the area named, nothing made.
  await message.fill('W'.repeat(120));
  await bob.getByRole('button', { name: 'Make my version' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('#e-note').textContent(), /does not fit its space/);
  await accessible(bob);
  await message.fill('Book a free site survey with our Seattle engineers.');
  await bob.getByRole('button', { name: 'Make my version' }).click();
  await bob.waitForURL(/\/p\/co-branding\/generated/);
  await accessible(bob);
  const mine = bob.locator('li.card').first();
  assert.match(await mine.textContent(), /waiting for approval/);

  const admin = await open('admin@acme.example');
  await visit(admin, '/p/co-branding/approvals');
  const waiting = admin.locator('li.card', { hasText: 'Book a free site survey with our Seattle engineers.' });
  await waiting.getByRole('button', { name: 'Approve' }).click();
  await admin.waitForLoadState();
  assert.doesNotMatch(await admin.locator('main').textContent(), /Book a free site survey with our Seattle/);

  await visit(bob, '/p/co-branding/generated');
  const approved = bob.locator('li.card').first();
  assert.match(await approved.textContent(), /approved/);
  await approved.getByRole('button', { name: 'Create share link' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  const link = (await bob.locator('li.card').first().locator('td.cb-share').first().textContent()).trim();
  assert.ok(link.startsWith(BASE + '/p/co-branding/s/'), link);
  // Anyone holding the link gets the PDF, without signing in.
  const res = await fetch(link, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const pdf = await fetch(new URL(res.headers.get('location'), BASE));
  assert.equal(pdf.status, 200);
  assert.equal(pdf.headers.get('content-type'), 'application/pdf');
  assert.ok((await pdf.arrayBuffer()).byteLength > 10_000);
  // Withdrawn, it stops at once.
  bob.once('dialog', (d) => d.accept());
  await bob.locator('li.card').first().getByRole('button', { name: 'Withdraw' }).click();
  await bob.waitForLoadState();
  assert.equal((await fetch(link, { redirect: 'manual' })).status, 410);
});

browserTest('staff read a template, run a batch and read the analytics', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/co-branding/');
  await admin.getByRole('link', { name: 'Cloud Firewall flyer' }).click();
  await admin.waitForLoadState();
  await accessible(admin);
  assert.match(await admin.locator('main').textContent(), /Status: published/);
  await admin.getByLabel('Program', { exact: true }).selectOption('reseller');
  await admin.getByRole('button', { name: 'Run batch' }).click();
  await admin.waitForURL(/\/p\/co-branding\/batches\//);
  await accessible(admin);
  const batch = await admin.locator('main').textContent();
  assert.match(batch, /Fabrikam Systems/, 'the partner without a logo is listed');
  await visit(admin, '/p/co-branding/new');
  await admin.getByRole('button', { name: 'Save as draft' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('#e-name').textContent(), /Give the template a name/);
  await accessible(admin);
  await visit(admin, '/p/co-branding/analytics');
  assert.match(await admin.locator('main').textContent(), /Northwind Solutions/);
  assert.ok(await admin.locator('svg').count() > 0, 'charts');
});
