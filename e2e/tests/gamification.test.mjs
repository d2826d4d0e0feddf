// Points and badges in the browser, on the demo's points (the other plugins' sample deals, courses and downloads, and
// the vendor's bonus points): a partner reads their points, badges (unearned ones greyed) and boards; the partners'
// board names Northwind, which opted in, and shows Fabrikam as "A partner" until its admin opts in with the toggle;
// staff read the partners' board and the rules and give bonus points (a mistake comes back on the form). Each page is
// checked with axe-core.
import assert from 'node:assert/strict';
import { accessible, browserTest, visit } from '../lib.mjs';

browserTest('a partner reads points, badges and boards; a company is named only once its admin opts in', async (open) => {
  const bob = await open('bob@northwind.example');
  await visit(bob, '/p/gamification/');
  await accessible(bob);
  const main = await bob.locator('main').textContent();
  assert.match(main, /My points/);
  assert.match(main, /Latest points/);
  assert.ok(await bob.locator('.gm-badge').count() >= 7, 'the badge catalogue');
  assert.ok(await bob.locator('.gm-locked').count() > 0, 'unearned badges greyed');
  assert.doesNotMatch(main, /Show Northwind Solutions by name/, 'only the partner admin decides');
  await bob.getByRole('link', { name: 'Partner companies' }).first().click();
  await bob.waitForLoadState();
  await accessible(bob);
  let board = await bob.locator('main').textContent();
  assert.match(board, /Northwind Solutions/, 'its own company, always');
  assert.match(board, /A partner/, 'Fabrikam, anonymous');
  assert.doesNotMatch(board, /Fabrikam/);
  await bob.getByRole('link', { name: 'All time' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  await bob.getByRole('link', { name: 'My company' }).click();
  await bob.waitForLoadState();
  assert.match(await bob.locator('main').textContent(), /Alice Northwind/);
  // Alice's latest points hold the vendor's bonus (Bob's ten latest are his deals', courses' and downloads').
  const alice = await open('alice@northwind.example');
  await visit(alice, '/p/gamification/');
  assert.match(await alice.locator('main').textContent(), /Bonus: /, 'the vendor\'s bonus among the latest points');

  const carol = await open('carol@fabrikam.example');
  await visit(carol, '/p/gamification/leaderboard?scope=partners');
  assert.match(await carol.locator('main').textContent(), /Northwind Solutions/, 'Northwind opted in');
  await visit(carol, '/p/gamification/');
  await carol.getByLabel('Show Fabrikam Systems by name to other partners').check();
  await carol.getByRole('button', { name: 'Save' }).click();
  await carol.waitForLoadState();
  assert.match(await carol.locator('[role=status]').textContent(), /now named/);
  await accessible(carol);
  await visit(bob, '/p/gamification/leaderboard?scope=partners');
  assert.match(await bob.locator('main').textContent(), /Fabrikam Systems/);
  // Back to anonymous, as the demo has it.
  await carol.getByLabel('Show Fabrikam Systems by name to other partners').uncheck();
  await carol.getByRole('button', { name: 'Save' }).click();
  await carol.waitForLoadState();
  await visit(bob, '/p/gamification/leaderboard?scope=partners');
  assert.doesNotMatch(await bob.locator('main').textContent(), /Fabrikam/);
  await visit(bob, '/');
  assert.match(await bob.locator('main').textContent(), /My points and rank/);
});

browserTest('staff read the partners\' board and the rules and give bonus points', async (open) => {
  const manager = await open('manager@acme.example');
  await visit(manager, '/p/gamification/');
  await accessible(manager);
  const main = await manager.locator('main').textContent();
  assert.match(main, /partner companies this month/);
  assert.match(main, /Northwind Solutions/);
  assert.match(main, /Deal won/, 'the rules');
  await manager.getByLabel('Partner user\'s email').fill('bob@northwind.example');
  await manager.getByLabel('Points', { exact: true }).fill('lots');
  await manager.getByLabel('What for').fill('Closed the Globex renewal');
  await manager.getByRole('button', { name: 'Give points' }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('[role=alert]').textContent(), /whole number/);
  assert.equal(await manager.getByLabel('What for').inputValue(), 'Closed the Globex renewal');
  await accessible(manager);
  await manager.getByLabel('Points', { exact: true }).fill('25');
  await manager.getByRole('button', { name: 'Give points' }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('[role=status]').textContent(), /Bonus points given/);
  await manager.getByRole('link', { name: 'Reseller: all leaderboards' }).click();
  await manager.waitForLoadState();
  await accessible(manager);
  await manager.goto('/admin/orgs');
  await manager.getByRole('link', { name: 'Northwind Solutions', exact: true }).click();
  await manager.waitForLoadState();
  assert.match(await manager.locator('main').textContent(), /Points and badges/);
});
