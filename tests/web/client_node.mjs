// The client package under Node.js, with the `ws` WebSocket, against a running node.
//
//   node client_node.mjs WS_URL ALICE_TOKEN BOB_TOKEN
//
// Run from a folder where the package (@realtime-server/client) and ws are installed.
// bob sends alice a DM; the test then restarts the node (checkpoint "restart-node", a
// line on stdout, answered by a line on stdin) and posts to the DM while it is down;
// alice's client reconnects with its cursor and gets what she missed, once. Prints one
// JSON line of results; a failed step exits 1 with the reason on stderr.

import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { RealtimeClient, State, dmThread } from '@realtime-server/client';

const [url, aliceToken, bobToken] = process.argv.slice(2);
const STEP = 10_000;  // ms any one expectation may take: bounds a failing run only
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();

async function checkpoint(name) {
  process.stdout.write(JSON.stringify({ checkpoint: name }) + '\n');
  const { done } = await lines.next();
  if (done) throw new Error(`no answer to checkpoint ${name}`);
}

/** Resolves with the first value of event `type` that `accept` takes. */
function next(client, type, accept = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`no ${type} event`)); }, STEP);
    const stop = client.on(type, (value) => {
      if (accept(value)) { clearTimeout(timer); stop(); resolve(value); }
    });
  });
}

const options = { WebSocket, pingInterval: 0, backoff: [50, 500] };
const alice = new RealtimeClient(url, { ...options, token: aliceToken });
const bob = new RealtimeClient(url, { ...options, token: bobToken });
const results = { states: [], received: [] };
alice.on('state', ({ state, code }) => results.states.push(code ? `${state}:${code}` : state));
alice.on('message', (m) => results.received.push([m.seq, m.from, m.body]));
try {
  const welcome = await alice.connect();
  await bob.connect();
  results.user = welcome.user;
  const first = next(alice, 'message', (m) => m.body === 'one');
  const ack = await bob.send({ to: 'alice', body: 'one' });
  results.thread = ack.thread;
  results.expectedThread = dmThread('alice', 'bob');
  await first;
  const cursorBefore = alice.cursor;

  const resumed = next(alice, 'resumed');
  const missed = next(alice, 'message', (m) => m.body === 'posted while the node was down');
  await checkpoint('restart-node');
  results.resumed = await resumed;
  await missed;
  results.cursorMoved = alice.cursor !== cursorBefore;
  results.closeCode = alice.closeCode;
  results.finalState = alice.state === State.OPEN ? 'open' : alice.state;

  // After the reconnection, requests work again.
  const page = await alice.history(ack.thread);
  results.history = page.messages.map((m) => m.body);
  process.stdout.write(JSON.stringify(results) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify(results) + '\n');
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
} finally {
  alice.close();
  bob.close();
  input.close();  // or stdin keeps the process alive
}
