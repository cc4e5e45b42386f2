// The status page of a node in headless Chromium, behind the API key.
//
//   node status_page.mjs API_URL API_KEY NODE_ID ARTIFACT_DIR
//
// Opens /status first without credentials (refused: 401), then with the key as the HTTP
// Basic password; waits until the page has drawn the node's data, checks what it shows,
// and saves a screenshot to ARTIFACT_DIR/status-page.png. Prints one JSON line of
// results; a failed step exits 1 with the reason on stderr.

import { mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { chromium } from 'playwright-core';

const [apiUrl, apiKey, nodeId, artifactDir] = process.argv.slice(2);
if (!artifactDir) {
  console.error('usage: node status_page.mjs API_URL API_KEY NODE_ID ARTIFACT_DIR');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEP = 10_000;  // ms any one expectation may take: bounds a failing run only

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const results = { consoleErrors: [], foreignRequests: [] };
try {
  // Without the key: refused, with a challenge that makes a browser ask for it.
  const refused = await fetch(`${apiUrl}/status`);
  results.withoutKey = refused.status;
  results.challenge = refused.headers.get('www-authenticate');

  const context = await browser.newContext({
    httpCredentials: { username: 'admin', password: apiKey },
    viewport: { width: 1300, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on('request', (request) => {
    if (!request.url().startsWith(apiUrl)) results.foreignRequests.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') results.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => results.consoleErrors.push(error.message));
  const response = await page.goto(`${apiUrl}/status`);
  results.withKey = response.status();
  await page.waitForSelector('body[data-loaded="true"]');
  await page.waitForSelector(`#nodes tbody tr[data-node="${nodeId}"]`);
  results.heading = await page.textContent('h1');
  results.nodeRow = await page.locator(`#nodes tbody tr[data-node="${nodeId}"] td`).allTextContents();
  results.lines = {};
  for (const chart of ['sessions', 'rates', 'latency']) {
    results.lines[chart] = await page.locator(`#chart-${chart} polyline`).count();
  }
  results.errors = await page.locator('#errors li').allTextContents();
  mkdirSync(artifactDir, { recursive: true });
  const shot = joinPath(artifactDir, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  results.screenshot = shot;
  process.stdout.write(JSON.stringify(results) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify(results) + '\n');
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
