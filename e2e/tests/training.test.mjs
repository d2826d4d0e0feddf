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

// A zip of stored (uncompressed) entries: enough for a SCORM package built by the test.
function zip(files) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const fname = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(fname.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0); entry.writeUInt16LE(20, 4); entry.writeUInt16LE(20, 6); entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20); entry.writeUInt32LE(data.length, 24); entry.writeUInt16LE(fname.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, fname, data);
    central.push(entry, fname);
    offset += 30 + fname.length + data.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(central.length / 2, 8); end.writeUInt16LE(central.length / 2, 10);
  end.writeUInt32LE(dir.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

// The package's own script: finds the API the way ADL's sample code does (this window, then its parents), starts,
// reports progress, then a pass with a score, and finishes.
const SCO_JS = `
function findAPI(win) { for (var i = 0; win && i < 8; i++) { if (win.API) return win.API; if (win.parent === win) break; win = win.parent; } return null; }
var api = findAPI(window);
var out = document.getElementById('out');
if (!api) { out.textContent = 'no API'; } else {
  api.LMSInitialize('');
  var name = api.LMSGetValue('cmi.core.student_name');
  api.LMSSetValue('cmi.core.lesson_status', 'incomplete');
  api.LMSSetValue('cmi.suspend_data', 'step=1');
  api.LMSCommit('');
  document.getElementById('finish').addEventListener('click', function () {
    api.LMSSetValue('cmi.core.score.raw', '90');
    api.LMSSetValue('cmi.core.lesson_status', 'passed');
    api.LMSSetValue('cmi.core.session_time', '0000:02:30');
    api.LMSFinish('');
    out.textContent = 'finished';
  });
  out.textContent = 'Hello ' + name + ', status ' + api.LMSGetValue('cmi.core.lesson_status');
}`;

const MANIFEST = `<?xml version="1.0"?>
<manifest identifier="e2e" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
<metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
<organizations default="o"><organization identifier="o"><title>Browser SCORM check</title>
<item identifier="i" identifierref="r"><title>The SCO</title></item></organization></organizations>
<resources><resource identifier="r" type="webcontent" adlcp:scormtype="sco" href="content/index.html"/></resources>
</manifest>`;

browserTest('a SCORM 1.2 package runs in the sandboxed player and its completion and score reach the plugin', async (open) => {
  const admin = await open('admin@acme.example');
  await visit(admin, '/p/lms/import');
  await accessible(admin);
  const pkg = zip({
    'imsmanifest.xml': MANIFEST,
    'content/index.html': '<!doctype html><html lang="en"><head><title>SCO</title><link rel="stylesheet" href="style.css"></head>' +
      '<body><h1>Firewall rules</h1><p id="out">loading</p><button id="finish">Finish the lesson</button><script src="js/sco.js"></script></body></html>',
    'content/style.css': 'h1 { color: rgb(200, 30, 30); }',
    'content/js/sco.js': SCO_JS,
  });
  await admin.getByLabel('Package (.zip)').setInputFiles({ name: 'browser-check.zip', mimeType: 'application/zip', buffer: pkg });
  await admin.getByRole('button', { name: 'Import the package' }).click();
  await admin.waitForLoadState();
  assert.match(await admin.locator('h1').textContent(), /Browser SCORM check/);
  const course = new URL(admin.url()).pathname;
  // Staff preview the package before publishing: it runs, and nothing is kept.
  await admin.getByRole('link', { name: 'The SCO' }).click();
  await admin.waitForLoadState();
  const preview = admin.frameLocator('iframe.pt-frame');
  await preview.locator('#status').filter({ hasText: /Preview/ }).waitFor();
  await visit(admin, course);
  await admin.getByRole('button', { name: 'Publish the draft' }).click();
  await admin.waitForLoadState();

  const bob = await open('bob@northwind.example');
  await visit(bob, course);
  await bob.getByRole('button', { name: 'Enrol' }).click();
  await bob.waitForLoadState();
  await bob.getByRole('link', { name: 'Start' }).click();
  await bob.waitForLoadState();
  await accessible(bob);
  const shell = bob.frameLocator('iframe.pt-frame');
  const sco = shell.frameLocator('#sco');
  // The SCO found the API, read the learner's name, and loaded its stylesheet and script by relative paths.
  await sco.locator('#out').filter({ hasText: 'Hello Bob Northwind, status incomplete' }).waitFor();
  assert.equal(await sco.locator('h1').evaluate((h) => getComputedStyle(h).color), 'rgb(200, 30, 30)');
  await shell.locator('#status').filter({ hasText: /progress is saved/ }).waitFor();
  await sco.getByRole('button', { name: 'Finish the lesson' }).click();
  await shell.locator('#status').filter({ hasText: /course is complete/ }).waitFor();
  // The plugin has it: the lesson and the course are complete, with the score.
  await bob.reload();
  await bob.waitForLoadState();
  assert.match(await bob.locator('.lms-lesson').textContent(), /Completed, score 90 %/);
  await visit(bob, course);
  assert.match(await bob.locator('main').textContent(), /Completed/);
});
