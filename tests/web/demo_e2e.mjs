// Two users chat through the demo page in headless Chromium.
//
//   node demo_e2e.mjs BASE_URL ARTIFACT_DIR
//
// Where the test must act on the node, the script writes {"checkpoint": NAME} as a line
// on stdout and waits for a line on stdin.
//
// alice and bob each get their own browser context (own storage, own connection). They
// exchange messages in the lobby and in a DM, see each other typing, read receipts and a
// like; then alice leaves the page, bob writes while she is away, and alice comes back:
// her page resumes from its saved cursor and shows every missed message exactly once.
// Screenshots of both pages go to ARTIFACT_DIR. Prints one JSON line of results; a failed
// step exits 1 with the reason on stderr.

import { mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [baseUrl, artifactDir] = process.argv.slice(2);
if (!baseUrl || !artifactDir) {
  console.error('usage: node demo_e2e.mjs BASE_URL ARTIFACT_DIR');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEP = 10_000;  // ms any one expectation may take: bounds a failing run, not a passing one
// Attachments point at this host; the browser fulfils its requests itself (a tiny PNG),
// so nothing leaves the machine.
const MEDIA = 'https://media.test/';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

const results = { steps: [], foreignRequests: [], consoleErrors: [] };
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();

/** Ask the test to do `name` (one JSON line out) and wait until it says done (a line in). */
async function checkpoint(name) {
  process.stdout.write(JSON.stringify({ checkpoint: name }) + '\n');
  const { done } = await lines.next();
  if (done) throw new Error(`no answer to checkpoint ${name}`);
}

function step(name) {
  results.steps.push(name);
  process.stderr.write(`step: ${name}\n`);
}

async function join(context, user) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(baseUrl) && !url.startsWith(baseUrl.replace('http', 'ws'))
        && !url.startsWith('data:') && !url.startsWith(MEDIA)) {
      results.foreignRequests.push(url);
    }
  });
  page.on('console', (message) => {
    const text = message.text();
    // Chromium itself logs each connection attempt refused while the node restarts.
    const expected = /ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/.test(text);
    if (message.type() === 'error' && !expected) results.consoleErrors.push(`${user}: ${text}`);
  });
  page.on('pageerror', (error) => results.consoleErrors.push(`${user}: ${error.message}`));
  await page.goto(`${baseUrl}/demo`);
  await page.fill('#login-name', user);
  await page.click('#login-form button[type=submit]');
  await connected(page);
  return page;
}

const connected = (page) => page.waitForSelector('#connection[data-state="open"]');
const thread = (page, selector) => page.locator(`#threads button${selector}`);
const message = (page, text) => page.locator('#messages .message .bubble', { hasText: text });

/** The `li` of the message whose bubble reads exactly `text`. */
const item = (page, text) => page.locator('#messages .message',
  { has: page.locator('.bubble', { hasText: new RegExp(`^${text}$`) }) });

async function say(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
  // Acknowledged (durable): the pending mark is gone and the message has its seq.
  await page.locator('#messages .message.mine[data-seq]', { hasText: text }).waitFor();
}

async function count(locator) {
  return locator.count();
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
  ],
});

try {
  const viewport = { width: 1200, height: 760 };
  const aliceContext = await browser.newContext({ viewport });
  const bobContext = await browser.newContext({ viewport });
  for (const context of [aliceContext, bobContext]) {
    await context.route(`${MEDIA}**`, (route) => route.fulfill({ contentType: 'image/png', body: PNG }));
  }

  step('alice and bob join');
  const alice = await join(aliceContext, 'alice');
  const bob = await join(bobContext, 'bob');

  step('each sees the other online');
  await alice.waitForSelector('#people button[data-user="bob"][data-online="true"]');
  await bob.waitForSelector('#people button[data-user="alice"][data-online="true"]');

  step('a message in the lobby reaches the other');
  await thread(alice, '[aria-current="true"]').filter({ hasText: '# lobby' }).waitFor();
  await say(alice, 'hello lobby');
  await message(bob, 'hello lobby').waitFor();

  step('alice writes to bob in a DM');
  await alice.click('#people button[data-user="bob"]');
  await say(alice, 'hi bob, this is a DM');
  await thread(bob, '[data-thread="dm:alice:bob"] .badge').waitFor();
  await bob.click('#threads button[data-thread="dm:alice:bob"]');
  await message(bob, 'hi bob, this is a DM').waitFor();

  step('bob reads it, and alice sees the receipt');
  await alice.locator('#messages .seen', { hasText: 'Seen by bob' }).waitFor();

  step('bob sees alice typing, and it stops when she sends');
  await alice.type('#composer-input', 'typing away', { delay: 20 });
  await bob.waitForSelector('#typing:has-text("alice is typing")');
  await alice.press('#composer-input', 'Enter');
  await message(bob, 'typing away').waitFor();
  await bob.waitForFunction(() => document.getElementById('typing').textContent === '');

  step('bob likes the demo post; alice sees the count move and is notified');
  await alice.waitForSelector('#like-count:text-is("0")');
  await bob.click('#like-button');
  await alice.waitForSelector('#like-count:text-is("1")');
  await alice.locator('.toast', { hasText: 'bob liked your post' }).waitFor();

  step('in the lobby, bob reacts to alice\'s message and she sees it');
  await thread(alice, ':has-text("# lobby")').click();
  await thread(bob, ':has-text("# lobby")').click();
  await item(bob, 'hello lobby').hover();
  await item(bob, 'hello lobby').locator('button[data-action="react"][data-emoji="🎉"]').click();
  await item(alice, 'hello lobby').locator('.reaction[data-emoji="🎉"]', { hasText: '1' }).waitFor();
  results.reactionTitle = await item(alice, 'hello lobby').locator('.reaction').getAttribute('title');

  step('alice edits her message; bob sees the new text, marked edited');
  await item(alice, 'hello lobby').hover();
  await item(alice, 'hello lobby').locator('button[data-action="edit"]').click();
  await alice.waitForSelector('#composer-context:not([hidden])');
  await alice.fill('#composer-input', 'hello lobby, edited');
  await alice.press('#composer-input', 'Enter');
  await item(bob, 'hello lobby, edited').locator('.meta', { hasText: 'edited' }).waitFor();
  results.editedReactions = await item(bob, 'hello lobby, edited').locator('.reaction').count();

  step('bob replies to it with a photo; alice sees the quote and the thumbnail');
  await item(bob, 'hello lobby, edited').hover();
  await item(bob, 'hello lobby, edited').locator('button[data-action="reply"]').click();
  await bob.fill('#composer-input', 'look at this');
  await bob.fill('#composer-attach', `${MEDIA}beach.png`);
  await bob.press('#composer-input', 'Enter');
  const reply = item(alice, 'look at this');
  await reply.locator('.quote', { hasText: 'alice: hello lobby, edited' }).waitFor();
  await reply.locator(`.attachments img[src="${MEDIA}beach.png"]`).waitFor();
  results.thumbnailWidth = await reply.locator('.attachments img').evaluate(
    (img) => img.complete ? img.naturalWidth : new Promise((ok) => { img.onload = () => ok(img.naturalWidth); }));

  step('alice unsends her message; it is gone from bob\'s page');
  await item(alice, 'hello lobby, edited').hover();
  await item(alice, 'hello lobby, edited').locator('button[data-action="unsend"]').click();
  await item(bob, 'message unsent').waitFor();
  results.unsentLeft = await message(bob, 'hello lobby, edited').count();
  await item(bob, 'look at this').locator('.quote', { hasText: 'an unsent message' }).waitFor();
  results.bobLobbyHistory = await bob.evaluate(async () => {
    const lobby = window.demo.lobby;
    const page = await window.demo.client.history(lobby);
    return page.messages.filter((m) => m.from === 'alice').map((m) => ({ body: m.body, deleted: m.deleted ?? false }));
  });

  step('alice creates a group with bob; it appears on bob\'s page');
  await alice.fill('#group-members', 'bob');
  await alice.fill('#group-title', 'Trip');
  await alice.click('#group-create');
  await alice.waitForSelector('#conversation-title:text-is("Trip")');
  await thread(bob, ':has-text("Trip")').click();
  await bob.waitForSelector('#conversation-members:has-text("alice (admin)")');

  step('alice adds carol and renames the group; bob sees both');
  await alice.fill('#group-add-input', 'carol');
  await alice.click('#group-add');
  await bob.waitForSelector('#conversation-members:has-text("carol")');
  await alice.fill('#rename-input', 'Trip 2026');
  await alice.click('#rename-button');
  await bob.waitForSelector('#conversation-title:text-is("Trip 2026")');
  results.bobManages = await bob.locator('#rename-button').isDisabled();

  step('bob mutes the group: the node lists it muted');
  await bob.click('#mute-button');
  await bob.waitForSelector('#mute-button[aria-pressed="true"]');
  results.bobMuted = await bob.evaluate(async () =>
    (await window.demo.client.threads()).find((t) => t.title === 'Trip 2026')?.muted);

  step('bob leaves: it is gone from his list, and alice sees him go');
  await bob.click('#leave-button');
  await thread(bob, ':has-text("Trip 2026")').waitFor({ state: 'detached' });
  await alice.waitForFunction(() =>
    !document.getElementById('conversation-members').textContent.includes('bob'));
  results.groupMembersAfterLeave = await alice.locator('#conversation-members').textContent();

  step('alice blocks bob: his message to her is refused, and she unblocks him');
  await thread(alice, '[data-thread="dm:alice:bob"]').click();
  await thread(bob, '[data-thread="dm:alice:bob"]').click();
  await alice.click('#block-button');
  await alice.waitForSelector('#block-button[aria-pressed="true"]');
  results.bobSeesBlock = await bob.evaluate(async () =>
    (await window.demo.client.threads()).find((t) => t.thread === 'dm:alice:bob')?.blocked ?? false);
  await bob.fill('#composer-input', 'can you hear me');
  await bob.press('#composer-input', 'Enter');
  await bob.locator('.toast', { hasText: 'Not sent' }).waitFor();
  await alice.click('#block-button');
  await alice.waitForSelector('#block-button[aria-pressed="false"]');
  results.blockedArrived = await message(alice, 'can you hear me').count();

  step('the node restarts: both pages reconnect by themselves and miss nothing');
  // The test drains the node (1012), starts it again on the same port and data, and
  // posts a message to the DM meanwhile.
  await checkpoint('restart-node');
  await connected(alice);
  await connected(bob);
  await message(alice, 'posted while the node restarted').waitFor();
  await message(bob, 'posted while the node restarted').waitFor();
  results.closeCodes = await Promise.all([alice, bob].map((page) =>
    page.evaluate(() => window.demo.client.closeCode)));
  // Subscriptions were renewed on the new connections: the count still moves.
  await bob.click('#like-button');
  await alice.waitForSelector('#like-count:text-is("0")');

  step('alice leaves; bob writes while she is away');
  const cursorBefore = await alice.evaluate(() => window.demo.client.cursor);
  await alice.goto('about:blank');
  await bob.waitForSelector('#people button[data-user="alice"][data-online="false"]');
  await say(bob, 'while you were away, 1');
  await say(bob, 'while you were away, 2');

  step('alice comes back: her page resumes from its cursor and misses nothing');
  await alice.goto(`${baseUrl}/demo`);
  await connected(alice);
  // The replay holds bob's two messages and alice's own sent before she left (a sender
  // gets an ack, not a message, so her cursor stood before them).
  await alice.waitForSelector('#sync-status:has-text("missed messages replayed")');
  results.replayed = await alice.evaluate(() => window.demo.replayed);
  await thread(alice, '[data-thread="dm:alice:bob"]').click();
  await message(alice, 'while you were away, 2').waitFor();
  const seqs = await alice.$$eval('#messages .message[data-seq]', (items) =>
    items.map((li) => Number(li.dataset.seq)));
  results.dmSeqs = seqs;
  results.cursorBefore = cursorBefore;
  results.cursorAfter = await alice.evaluate(() => window.demo.client.cursor);
  results.awayCopies = await count(message(alice, 'while you were away'));

  step('bob reloads too and still sees the whole DM');
  await bob.reload();
  await connected(bob);
  await bob.click('#threads button[data-thread="dm:alice:bob"]');
  await message(bob, 'hi bob, this is a DM').waitFor();
  results.bobDmMessages = await count(bob.locator('#messages .message[data-seq]'));

  step('screenshots');
  mkdirSync(artifactDir, { recursive: true });
  await alice.locator('#sync-status').evaluate((node) => node.scrollIntoView());
  results.screenshots = [joinPath(artifactDir, 'web-demo-alice.png'),
    joinPath(artifactDir, 'web-demo-bob.png')];
  await alice.screenshot({ path: results.screenshots[0] });
  await bob.screenshot({ path: results.screenshots[1] });
  await bob.click('#threads button:has-text("# lobby")');
  await message(bob, 'look at this').waitFor();
  results.screenshots.push(joinPath(artifactDir, 'web-demo-lobby.png'));
  await bob.screenshot({ path: results.screenshots[2] });
  process.stdout.write(JSON.stringify(results) + '\n');
} catch (error) {
  results.error = String(error?.stack ?? error);
  process.stdout.write(JSON.stringify(results) + '\n');
  process.stderr.write(`failed after step "${results.steps.at(-1)}": ${error}\n`);
  process.exitCode = 1;
} finally {
  input.close();
  await browser.close();
}
