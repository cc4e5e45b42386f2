// Compiled (not run) by tests/web/test_client_package.py with `tsc --strict --noEmit`:
// the package's declarations type what a TypeScript app writes, and refuse mistakes.

import { RealtimeClient, RealtimeError, dmThread, type Message, type Update } from '@realtime-server/client';

const client = new RealtimeClient('ws://localhost:8765/ws', { token: async () => 'jwt' });

client.on('message', (m: Message) => {
  const body: string = m.body;
  const from: string | null = m.from;
  void body; void from;
});
client.on('update', (u: Update) => {
  const kind: 'edit' | 'unsend' | 'react' | 'members' | 'title' = u.kind;
  const removed: string[] | undefined = u.removed;
  void kind; void removed;
});
client.on('presence', (p) => { const online: boolean = p.online; void online; });
client.on('cursor', (cursor) => { const c: string = cursor; void c; });
client.on('state', ({ state, code }) => { void state; void code; });

async function main(): Promise<void> {
  const welcome = await client.connect();
  const ack = await client.send({ to: 'bob', body: 'hi' });
  const seq: number = ack.seq;
  const page = await client.history(dmThread(welcome.user, 'bob'), { limit: 10 });
  const bodies: string[] = page.messages.map((m) => m.body);
  void seq; void bodies;
  const reply = await client.send({ thread: ack.thread, body: 'this', replyTo: ack.seq,
    attachments: [{ url: 'https://cdn.example.com/a.jpg', type: 'image/jpeg', size: 10 }] });
  await client.edit(reply.thread, reply.seq, 'this one');
  const reacted = await client.react(reply.thread, reply.seq, '👍');
  const changed: number | null | undefined = reacted.seq;
  await client.unsend(reply.thread, reply.seq);
  const group = await client.create(['bob', 'carol'], 'trip');
  const members: string[] | undefined = (await client.members(group.thread!, { add: ['dan'] })).members;
  await client.rename(group.thread!, 'trip 2');
  await client.mute(group.thread!, true, Date.now() + 3_600_000);
  await client.block('mallory');
  await client.leave(group.thread!);
  void members;
  void changed;
  try {
    await client.read(ack.thread, ack.seq);
  } catch (error) {
    if (error instanceof RealtimeError) { const code: string = error.code; void code; }
  }
  // @ts-expect-error: a message has no field `text`
  client.on('message', (m) => m.text);
  // @ts-expect-error: no such event
  client.on('messages', () => undefined);
  // @ts-expect-error: a send needs a body
  await client.send({ to: 'bob' });
}
void main;
