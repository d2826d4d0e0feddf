// Training (the lms plugin) in the browser, on the demo's sample courses: the catalogue and its search, a course
// and its player, a quiz, "my learning", the team's training, a certificate, and the public verification, each
// checked with axe-core.
import assert from 'node:assert/strict';
import { accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner learns, takes a quiz, and a certificate verifies without signing in', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/lms/');
  await bob.getByLabel('Search courses').fill('latency');
  await bob.getByRole('button', { name: 'Search' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('main').textContent(), /Managed SD-WAN for MSPs/);
  assert.doesNotMatch(await bob.locator('main').textContent(), /Wi-Fi 7/, 'a draft is not in the catalogue');
  await accessible(bob);
  await bob.getByRole('link', { name: 'Managed SD-WAN for MSPs' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  // Progress resumes where Bob left: the second lesson.
  await bob.getByRole('link', { name: 'Resume' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('h1').textContent(), /Designing a customer network/);
  await accessible(bob);
  await bob.getByRole('button', { name: /Mark as done/ }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('h1').textContent(), /Operating many customers/);
  await bob.getByRole('button', { name: /Mark as done/ }).click();
  await bob.waitForLoadState();
  // The quiz: a wrong answer does not pass, and says how many attempts are used.
  assert.match(await bob.locator('h1').textContent(), /Check your understanding/);
  await accessible(bob);
  await bob.getByLabel('The order links were plugged in').check();
  await bob.getByLabel('The links').check();
  await bob.getByRole('button', { name: 'Submit answers' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('.alert').first().textContent(), /Not passed: 0 of 2 right/);
  await accessible(bob);
  await bob.getByRole('link', { name: 'Try again' }).click();
  await bob.waitForLoadState();
  await bob.getByLabel('Application and path quality').check();
  await bob.getByLabel('The applications').check();
  await bob.getByRole('button', { name: 'Submit answers' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('.alert').first().textContent(), /Passed: 2 of 2 right/);
  await visit(bob, '/p/lms/my');
  assert.match(await bob.locator('main').textContent(), /Certified SD-WAN Operator/);
  await bob.getByRole('link', { name: 'Certified SD-WAN Operator' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  const verifyUrl = await bob.locator('.lms-certificate a').last().getAttribute('href');
  // Anyone can verify it; a forged code learns nothing.
  const guest = await open();
  await visit(guest, verifyUrl);
  assert.match(await guest.locator('.alert').textContent(), /Valid\. Bob Northwind/);
  await visit(guest, '/p/lms/verify?code=7QF3-M9XT-R2BK-D4HN');
  assert.match(await guest.locator('.alert').textContent(), /No certificate has this code/);
});

browserTest('a partner admin sees the team and assigns training; the vendor authors', async (open) => {
  const alice = await open('alice@northwind.example');
  await visit(alice, '/p/lms/team');
  assert.match(await alice.locator('main').textContent(), /Bob Northwind/);
  await alice.getByRole('button', { name: 'Assign' }).click();
  await alice.waitForLoadState();
  assert.match(await alice.locator('#e-due_date').textContent(), /use a date like 2027-03-31/);
  await accessible(alice);
  await visit(alice, '/');
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/lms/');
  assert.match(await admin.locator('main').textContent(), /Wi-Fi 7 deep dive/, 'staff see drafts');
  await admin.getByRole('link', { name: 'Wi-Fi 7 deep dive' }).click();
  await admin.waitForLoadState();
  await accessible(admin);
  // The completion report: charts, tables, and its CSV.
  await visit(admin, '/p/lms/reports');
  assert.match(await admin.locator('main').textContent(), /Edge Router fundamentals/);
  assert.ok(await admin.locator('pt-chart, svg').count() > 0, 'a chart');
});
