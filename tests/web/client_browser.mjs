// The client package in Chromium: the installed package's module, imported by a page,
// against a running node.
//
//   node client_browser.mjs WS_URL ALICE_TOKEN BOB_TOKEN
//
// Run from a folder where the package (@realtime-server/client) and playwright-core are
// installed. The page's origin is a loopback server of the script's own, serving that
// folder, so nothing leaves the machine. As in client_node.mjs: bob sends alice a
// DM, the test restarts the node (checkpoint "restart-node") and posts while it is down,
// and alice's page reconnects with its cursor and gets what she missed, once. Prints one
// JSON line of results; a failed step exits 1 with the reason on stderr.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [url, aliceToken, bobToken] = process.argv.slice(2);
const STEP = 10_000;
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();

async function checkpoint(name) {
  process.stdout.write(JSON.stringify({ checkpoint: name }) + '\n');
  const { done } = await lines.next();
  if (done) throw new Error(`no answer to checkpoint ${name}`);
}

// The app's origin: a loopback HTTP server of this script's, serving an empty page and
// the installed package's files (Chromium lets only a local origin reach a loopback
// WebSocket).
const files = createServer(async (request, response) => {
  const path = new URL(request.url, 'http://x').pathname;
  if (path === '/') {
    response.writeHead(200, { 'Content-Type': 'text/html' });
    response.end('<!doctype html><title>app</title>');
    return;
  }
  try {
    const body = await readFile(`.${path.replaceAll('..', '')}`);
    response.writeHead(200, { 'Content-Type': 'text/javascript' });
    response.end(body);
  } catch {
    response.writeHead(404);
    response.end();
  }
});
await new Promise((resolve) => files.listen(0, '127.0.0.1', resolve));
const ORIGIN = `http://127.0.0.1:${files.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const results = { consoleErrors: [] };
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP);
  page.on('pageerror', (error) => results.consoleErrors.push(error.message));
  await page.goto(`${ORIGIN}/`);
  // The page imports the package as an app's bundler would resolve it.
  await page.evaluate(async ([wsUrl, alice, bob]) => {
    const { RealtimeClient } = await import('/node_modules/@realtime-server/client/client.js');
    const seen = { states: [], received: [] };
    const a = new RealtimeClient(wsUrl, { token: alice, pingInterval: 0, backoff: [50, 500] });
    const b = new RealtimeClient(wsUrl, { token: bob, pingInterval: 0, backoff: [50, 500] });
    a.on('state', ({ state, code }) => seen.states.push(code ? `${state}:${code}` : state));
    a.on('message', (m) => seen.received.push([m.seq, m.from, m.body]));
    a.on('resumed', (r) => { seen.resumed = r; });
    window.rt = { a, b, seen };
    await a.connect();
    await b.connect();
    await b.send({ to: 'alice', body: 'one' });
  }, [url, aliceToken, bobToken]);
  await page.waitForFunction(() => window.rt.seen.received.length === 1);
  await checkpoint('restart-node');
  await page.waitForFunction(() => window.rt.seen.received.length === 2 && window.rt.seen.resumed);
  Object.assign(results, await page.evaluate(async () => {
    const { a, b, seen } = window.rt;
    const page = await a.history('dm:alice:bob');
    const out = { ...seen, user: a.user, finalState: a.state, history: page.messages.map((m) => m.body) };
    a.close();
    b.close();
    return out;
  }));
  process.stdout.write(JSON.stringify(results) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify(results) + '\n');
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
  files.close();
  input.close();
}
