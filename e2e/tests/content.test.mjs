// The content library in the browser, on the demo's sample assets: a partner searches inside documents, opens an
// asset and downloads it; staff add an asset (and see the form's field errors) and read the analytics. Each page
// is checked with axe-core.
import assert from 'node:assert/strict';
import { accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner finds a word inside a PDF, opens the asset and downloads it', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/content/');
  await accessible(bob);
  const listed = await bob.locator('main').textContent();
  assert.match(listed, /Gold partner playbook/, 'Northwind is gold');
  assert.doesNotMatch(listed, /MSP service catalogue template|2025 price list/, 'not for resellers, or expired');
  await bob.getByLabel('Search', { exact: true }).fill('rollout');
  await bob.getByRole('button', { name: 'Search' }).click();
  await bob.waitForLoadState();
  await bob.getByRole('link', { name: 'Cloud Firewall brochure' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  const [download] = await Promise.all([bob.waitForEvent('download'), bob.getByRole('link', { name: 'Download' }).click()]);
  assert.equal(download.suggestedFilename(), 'cloud-firewall-brochure.pdf');
  // An image shows itself.
  await visit(bob, '/p/content/');
  await bob.getByRole('link', { name: 'Spring campaign banner' }).click();
  await bob.waitForLoadState();
  assert.ok(await bob.locator('img.content-preview').evaluate((img) => img.complete && img.naturalWidth === 320));
});

browserTest('staff add an asset, see what is wrong with the form, and read the analytics', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/content/new');
  await accessible(admin);
  await admin.getByRole('button', { name: 'Add' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('#e-title').textContent(), /give the asset a title/);
  await accessible(admin);
  await admin.getByLabel('Title').fill('Reseller onboarding checklist');
  await admin.getByLabel('File').setInputFiles({ name: 'checklist.txt', mimeType: 'text/plain', buffer: Buffer.from('Step one: sign the agreement.') });
  await admin.getByRole('button', { name: 'Add' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('h1').textContent(), /Reseller onboarding checklist/);
  assert.match(await admin.locator('main').textContent(), /Version/);
  await accessible(admin);
  await visit(admin, '/p/content/analytics');
  assert.match(await admin.locator('main').textContent(), /Northwind Solutions/);
  assert.ok(await admin.locator('svg').count() > 0, 'charts');
  await accessible(admin);
});
