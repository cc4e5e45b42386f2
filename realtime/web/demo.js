// The demo page: a small chat on top of client.js. Everything shown comes from the node:
// threads, history, live messages, typing, receipts, presence and like counts.

import { RealtimeClient, dmThread, newCid } from './client.js';

const USER_KEY = 'rt-demo:user';
const OPEN_KEY = 'rt-demo:open';
const cursorKey = (user) => `rt-demo:cursor:${user}`;
const likedKey = (user, post) => `rt-demo:liked:${user}:${post}`;
const USER_ID = /^[A-Za-z0-9_.@+-]{1,64}$/;

const TYPING_REPEAT = 2500;  // ms between repeated "typing on" (the node throttles to 3 s)
const TYPING_IDLE = 4000;    // ms without a keystroke before "typing off"
const TYPING_SHOWN = 8000;   // ms an indicator stays without news (the node expires at 6 s)
const MAX_PRESENCE = 90;     // presence topics followed (a connection may follow 100)
const HISTORY_PAGE = 50;
const EMOJI = ['👍', '❤️', '😂', '😮', '🎉'];  // the reactions the page offers
const IMAGE_URL = /\.(png|jpe?g|gif|webp|avif)(\?.*)?$/i;

const $ = (id) => document.getElementById(id);

/** Everything the page knows; `window.demo` exposes it for the console. */
const demo = {
  me: null,
  client: null,
  lobby: null,
  post: null,
  threads: new Map(),     // id -> thread model (see threadModel)
  people: new Map(),      // user -> {online, last_seen}
  following: new Set(),   // users whose presence is followed
  open: null,             // id of the thread on screen
  likes: 0,
  liked: false,
  replayed: null,         // messages replayed when this page last resumed from its cursor
  replyTo: null,          // seq of the message the composer answers
  editing: null,          // seq of our message the composer edits
};
window.demo = demo;

// -- talking to the node --------------------------------------------------------------------

async function postJson(path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  return answer;
}

const fetchToken = async (user) => (await postJson('/dev/token', { user })).token;

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

async function start(user) {
  const firstToken = await fetchToken(user);
  const joined = await postJson('/dev/join', {}, firstToken);
  localStorage.setItem(USER_KEY, user);
  demo.me = user;
  demo.lobby = joined.lobby;
  demo.post = joined.post;
  demo.liked = localStorage.getItem(likedKey(user, joined.post)) === '1';

  let spare = firstToken;
  const client = new RealtimeClient(socketUrl(), {
    // The first connection uses the token just minted; every reconnection gets a fresh one.
    token: async () => {
      const token = spare ?? await fetchToken(user);
      spare = null;
      return token;
    },
    cursor: localStorage.getItem(cursorKey(user)),
  });
  demo.client = client;
  client.on('state', ({ state }) => renderConnection(state));
  client.on('cursor', (cursor) => localStorage.setItem(cursorKey(user), cursor));
  // After a reconnection: unread counts and members may have moved while away.
  client.on('welcome', () => { if (demo.open) refreshThreads().catch(report); });
  client.on('resumed', ({ replayed }) => {
    demo.replayed = replayed;
    setStatus(replayed === 1 ? 'Resumed: 1 missed message replayed'
      : `Resumed: ${replayed} missed messages replayed`);
  });
  client.on('message', onMessage);
  client.on('update', onUpdate);
  client.on('typing', onTyping);
  client.on('receipt', onReceipt);
  client.on('presence', onPresence);
  client.on('likes', onLikes);
  client.on('notification', onNotification);

  $('me').textContent = user;
  $('login').hidden = true;
  $('app').hidden = false;
  $('whoami').hidden = false;
  renderLike();

  const welcome = await client.connect();
  if (!client.cursor || welcome.cursor === client.cursor) setStatus('Connected: live');
  await client.subscribe(`post:${demo.post}`);
  await refreshThreads();
  const remembered = sessionStorage.getItem(OPEN_KEY);
  openThread(remembered && demo.threads.get(remembered)?.exists ? remembered : demo.lobby);
}

// -- the model ------------------------------------------------------------------------------

function threadModel(id) {
  let t = demo.threads.get(id);
  if (!t) {
    t = {
      id,
      exists: false,          // known to the node (a DM not written to yet is not)
      members: [],
      title: null,
      kind: id.startsWith('dm:') ? 'dm' : 'group',
      admins: [],
      muted: false,           // false, true, or until when (epoch ms)
      blocked: false,         // a DM whose other member we block
      left: false,            // a group we are no longer in
      unread: 0,
      readSeq: 0,             // our own read pointer
      messages: new Map(),    // seq -> message
      pending: new Map(),     // cid -> message not acknowledged yet
      reads: new Map(),       // other member -> seq read up to
      typing: new Map(),      // member -> timer clearing the indicator
      lastTs: 0,
      historyLoaded: false,
    };
    demo.threads.set(id, t);
  }
  return t;
}

/** Store `m` in `t`; false when that seq is already there (a replay seam, or history). */
function addMessage(t, m) {
  t.exists = true;
  if (t.messages.has(m.seq)) return false;
  if (m.cid) t.pending.delete(m.cid);
  t.messages.set(m.seq, m);
  t.lastTs = Math.max(t.lastTs, m.ts);
  return true;
}

const lastSeq = (t) => Math.max(0, ...t.messages.keys());

/**
 * Apply a change to message `target` of `t`: an `update` from the node, or the ack of our
 * own (the acting device gets the ack, not the update). Changes come in seq order, each
 * once; one to a message not loaded here waits for history, which shows it folded.
 */
function applyChange(t, { kind, target, user, body, meta, emoji, on, ts }) {
  const m = t.messages.get(target);
  if (!m) return;
  if (kind === 'edit') {
    Object.assign(m, { body, meta: meta ?? null, edited: ts });
  } else if (kind === 'unsend') {
    Object.assign(m, { body: '', meta: null, deleted: true });
    delete m.attachments;
    delete m.reactions;
  } else if (kind === 'react') {
    const reactions = { ...(m.reactions ?? {}) };
    const users = (reactions[emoji] ?? []).filter((u) => u !== user);
    if (on) users.push(user);
    if (users.length) reactions[emoji] = users;
    else delete reactions[emoji];
    m.reactions = reactions;
  }
}

async function refreshThreads() {
  const entries = await demo.client.threads();
  for (const entry of entries) {
    const t = threadModel(entry.thread);
    t.exists = true;
    t.members = entry.members;
    t.title = entry.title ?? null;
    t.kind = entry.kind ?? t.kind;
    t.admins = entry.admins ?? [];
    t.muted = entry.muted ?? false;
    t.blocked = entry.blocked ?? false;
    t.left = false;
    t.unread = entry.thread === demo.open ? 0 : entry.unread;
    if (entry.last) addMessage(t, entry.last);
  }
  followPeople();
  if (demo.open) markRead(demo.threads.get(demo.open));
  render();
}

function followPeople() {
  const everyone = new Set();
  for (const t of demo.threads.values()) for (const user of t.members) everyone.add(user);
  everyone.delete(demo.me);
  for (const user of everyone) {
    if (!demo.people.has(user)) demo.people.set(user, { online: false, last_seen: null });
    if (!demo.following.has(user) && demo.following.size < MAX_PRESENCE) {
      demo.following.add(user);
      demo.client.subscribe(`presence:${user}`).catch(() => demo.following.delete(user));
    }
  }
}

// -- events from the node -------------------------------------------------------------------

function onMessage(m) {
  const t = threadModel(m.thread);
  const known = t.members.length > 0;
  if (!addMessage(t, m)) return;
  stopIndicator(t, m.from);
  if (m.from !== demo.me) {
    if (m.thread === demo.open && document.visibilityState === 'visible') markRead(t);
    else t.unread += 1;
  }
  // A newcomer in the lobby, or a DM we did not know: members and presence to learn.
  if (!known || (m.from === null && m.meta?.kind === 'join')) refreshThreads().catch(report);
  render();
}

function onUpdate(u) {
  const t = threadModel(u.thread);
  if (u.kind === 'members' || u.kind === 'title') applyGroupChange(t, u);
  else applyChange(t, u);
  render();
}

/** A change of the group itself: who is in it and who runs it, or its title. */
function applyGroupChange(t, { kind, added = [], removed = [], admins, title, user }) {
  t.exists = true;
  if (kind === 'title') {
    t.title = title ?? null;
    return;
  }
  const members = new Set(t.members);
  for (const u of added) members.add(u);
  for (const u of removed) members.delete(u);
  t.members = [...members].sort();
  if (admins) t.admins = admins;
  if (added.includes(demo.me)) {
    t.left = false;
    if (user && user !== demo.me) toast(`${user} added you to a group`);
    // A group new to us: its title comes with the thread list.
    refreshThreads().catch(report);
  }
  if (removed.includes(demo.me)) {
    // From this entry on nothing of the group reaches us: it leaves the list.
    t.left = true;
    if (user && user !== demo.me) toast(`${user} removed you from ${threadName(t)}`);
    if (demo.open === t.id) openThread(demo.lobby);
  }
  followPeople();
}

function react(t, m, emoji) {
  const on = !(m.reactions?.[emoji] ?? []).includes(demo.me);
  demo.client.react(t.id, m.seq, emoji, on).then((ack) => {
    if (ack.seq !== null) applyChange(t, { kind: 'react', target: m.seq, user: demo.me, emoji, on });
    render();
  }, report);
}

function unsend(t, m) {
  demo.client.unsend(t.id, m.seq).then(() => {
    applyChange(t, { kind: 'unsend', target: m.seq });
    render();
  }, report);
}

function startReply(m) {
  demo.editing = null;
  demo.replyTo = m.seq;
  renderComposer();
  $('composer-input').focus();
}

function startEdit(m) {
  demo.replyTo = null;
  demo.editing = m.seq;
  $('composer-input').value = m.body;
  renderComposer();
  $('composer-input').focus();
}

function editMessage(text) {
  const t = demo.threads.get(demo.open);
  const seq = demo.editing;
  demo.editing = null;
  renderComposer();
  if (!t || seq === null) return;
  demo.client.edit(t.id, seq, text).then((ack) => {
    applyChange(t, { kind: 'edit', target: seq, body: text, meta: t.messages.get(seq)?.meta,
      ts: Date.now() });
    render();
    return ack;
  }, report);
}

/** An attachment for a pasted https URL: a MIME type guessed from its extension. */
function attachmentFor(url) {
  const ext = (url.split(/[?#]/)[0].split('.').pop() || '').toLowerCase();
  const types = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
    webp: 'image/webp', avif: 'image/avif', pdf: 'application/pdf', mp4: 'video/mp4' };
  return { url, type: types[ext] ?? 'application/octet-stream', size: 0,
    name: decodeURIComponent(url.split(/[?#]/)[0].split('/').pop() || 'file') };
}

function onTyping({ thread, user, on }) {
  if (user === demo.me) return;
  const t = threadModel(thread);
  stopIndicator(t, user);
  if (on) t.typing.set(user, setTimeout(() => { stopIndicator(t, user); render(); }, TYPING_SHOWN));
  render();
}

function stopIndicator(t, user) {
  clearTimeout(t.typing.get(user));
  t.typing.delete(user);
}

function onReceipt({ thread, user, seq }) {
  const t = threadModel(thread);
  if (user === demo.me) {
    // Read on another device of ours.
    t.readSeq = Math.max(t.readSeq, seq);
    if (seq >= lastSeq(t)) t.unread = 0;
  } else {
    t.reads.set(user, Math.max(t.reads.get(user) ?? 0, seq));
  }
  render();
}

function onPresence({ user, online, last_seen: lastSeen }) {
  demo.people.set(user, { online, last_seen: lastSeen });
  renderPeople();
  renderConversation();
}

function onLikes({ post, count }) {
  if (post !== demo.post) return;
  demo.likes = count;
  renderLike();
}

function onNotification({ data }) {
  if (data?.kind === 'like') toast(`${data.user} liked your post (${data.count})`);
  else toast('Notification: ' + JSON.stringify(data));
}

// -- what the user does ---------------------------------------------------------------------

function openThread(id) {
  if (demo.open && demo.open !== id) {
    stopTyping(true);
    demo.replyTo = null;
    demo.editing = null;
  }
  demo.open = id;
  sessionStorage.setItem(OPEN_KEY, id);
  const t = threadModel(id);
  t.unread = 0;
  if (!t.historyLoaded) loadHistory(t);
  markRead(t);
  render();
  $('composer-input').focus();
}

function openDm(user) {
  const id = dmThread(demo.me, user);
  const t = threadModel(id);
  if (!t.exists) t.members = [demo.me, user].sort();
  openThread(id);
}

async function loadHistory(t) {
  t.historyLoaded = true;
  if (!t.exists) return;
  try {
    const page = await demo.client.history(t.id, { limit: HISTORY_PAGE });
    for (const m of page.messages) addMessage(t, m);
    render();
  } catch (err) {
    t.historyLoaded = false;
    report(err);
  }
}

function markRead(t) {
  if (!t || !t.exists) return;
  t.unread = 0;
  const seq = lastSeq(t);
  if (seq > t.readSeq) {
    t.readSeq = seq;
    demo.client.read(t.id, seq).catch(report);
  }
}

function sendMessage(text) {
  const t = demo.threads.get(demo.open);
  if (!t) return;
  const cid = newCid();
  const draft = { cid, from: demo.me, body: text, ts: Date.now(), thread: t.id, meta: null };
  const replyTo = demo.replyTo ?? undefined;
  const link = $('composer-attach').value.trim();
  const attachments = link ? [attachmentFor(link)] : undefined;
  if (replyTo !== undefined) draft.reply_to = replyTo;
  if (attachments) draft.attachments = attachments;
  demo.replyTo = null;
  $('composer-attach').value = '';
  renderComposer();
  t.pending.set(cid, draft);
  stopTyping(false);  // the node ends our indicator when the message is committed
  render();
  const other = t.members.find((u) => u !== demo.me) ?? demo.me;
  const target = t.exists ? { thread: t.id } : { to: other };
  demo.client.send({ ...target, body: text, cid, replyTo, attachments }).then((ack) => {
    if (t.pending.has(cid)) addMessage(t, { ...draft, seq: ack.seq, msg: ack.msg, ts: ack.ts });
    t.readSeq = Math.max(t.readSeq, ack.seq);
    render();
  }, (err) => {
    draft.failed = true;
    toast(`Not sent: ${err.message}`);
    render();
  });
}

const typingState = { thread: null, sentAt: 0, idle: null };

function noteTyping(hasText) {
  const t = demo.threads.get(demo.open);
  if (!hasText || !t || !t.exists) {
    stopTyping(true);
    return;
  }
  const now = Date.now();
  if (typingState.thread !== t.id || now - typingState.sentAt > TYPING_REPEAT) {
    demo.client.typing(t.id, true);
    typingState.thread = t.id;
    typingState.sentAt = now;
  }
  clearTimeout(typingState.idle);
  typingState.idle = setTimeout(() => stopTyping(true), TYPING_IDLE);
}

function stopTyping(sendOff) {
  clearTimeout(typingState.idle);
  if (typingState.thread && sendOff) demo.client.typing(typingState.thread, false);
  typingState.thread = null;
  typingState.sentAt = 0;
}

function toggleLike() {
  demo.liked = !demo.liked;
  localStorage.setItem(likedKey(demo.me, demo.post), demo.liked ? '1' : '0');
  renderLike();
  demo.client.like(demo.post, demo.liked).then((ack) => {
    demo.likes = ack.count;
    renderLike();
  }, (err) => {
    demo.liked = !demo.liked;
    renderLike();
    report(err);
  });
}

// -- rendering ------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const clock = (ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const others = (t) => t.members.filter((u) => u !== demo.me);
const list = (names) => names.join(', ');

function threadName(t) {
  if (t.id === demo.lobby) return `# ${t.title || 'lobby'}`;
  if (t.title) return t.title;
  if (t.id.startsWith('dm:')) return others(t)[0] ?? 'notes to self';
  return list(others(t)) || t.id;
}

function presenceText(user) {
  const p = user && demo.people.get(user);
  if (!p) return '';
  return p.online ? 'online' : p.last_seen ? `last seen ${clock(p.last_seen)}` : 'offline';
}

function typingText(t) {
  const who = [...t.typing.keys()];
  if (who.length === 0) return '';
  return who.length === 1 ? `${who[0]} is typing…` : `${list(who)} are typing…`;
}

function render() {
  renderThreads();
  renderPeople();
  renderConversation();
  renderComposer();
}

function renderConnection(state) {
  const text = {
    idle: 'not connected',
    connecting: 'connecting…',
    open: 'connected',
    waiting: 'reconnecting…',
    closed: 'disconnected',
  }[state];
  $('connection').dataset.state = state;
  $('connection-text').textContent = text;
}

function renderThreads() {
  const shown = [...demo.threads.values()].filter((t) => !t.left && (t.exists || t.id === demo.open));
  shown.sort((a, b) => (b.id === demo.lobby) - (a.id === demo.lobby) || b.lastTs - a.lastTs);
  const items = shown.map((t) => {
    const button = el('button', 'thread');
    button.type = 'button';
    button.dataset.thread = t.id;
    button.setAttribute('aria-current', String(t.id === demo.open));
    const text = el('span', 'thread-text');
    text.append(el('span', 'thread-name', threadName(t)));
    const typing = typingText(t);
    const last = t.messages.get(lastSeq(t));
    const sender = last?.from === demo.me ? 'you: ' : last?.from ? `${last.from}: ` : '';
    const preview = typing || (last ? sender + (last.deleted ? 'message unsent' : last.body)
      : 'no messages yet');
    text.append(el('span', `thread-preview${typing ? ' typing-now' : ''}`, preview));
    button.append(text);
    if (t.unread > 0) button.append(el('span', 'badge', String(t.unread)));
    button.addEventListener('click', () => openThread(t.id));
    const li = el('li');
    li.append(button);
    return li;
  });
  $('threads').replaceChildren(...items);
}

function renderPeople() {
  const people = [...demo.people.entries()].filter(([user]) => user !== demo.me);
  people.sort(([a, pa], [b, pb]) => (pb.online - pa.online) || a.localeCompare(b));
  const items = people.map(([user, p]) => {
    const button = el('button', 'person');
    button.type = 'button';
    button.dataset.user = user;
    button.dataset.online = String(p.online);
    button.title = p.online ? 'online' : 'offline';
    button.append(el('span', `dot${p.online ? ' online' : ''}`), el('span', 'person-name', user));
    if (!p.online && p.last_seen) button.append(el('span', 'person-seen', `seen ${clock(p.last_seen)}`));
    button.addEventListener('click', () => openDm(user));
    const li = el('li');
    li.append(button);
    return li;
  });
  $('people').replaceChildren(...items);
  $('people-empty').hidden = items.length > 0;
}

function renderConversation() {
  const t = demo.open ? demo.threads.get(demo.open) : null;
  $('composer-input').disabled = !t;
  $('composer-send').disabled = !t;
  if (!t) return;
  $('conversation-title').textContent = threadName(t);
  $('conversation-members').textContent = t.id.startsWith('dm:') ? presenceText(others(t)[0])
    : list(t.members.map((u) => (t.admins.includes(u) ? `${u} (admin)` : u)));
  renderThreadControls(t);
  $('typing').textContent = typingText(t);

  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const stored = [...t.messages.values()].sort((a, b) => a.seq - b.seq);
  const mine = stored.filter((m) => m.from === demo.me);
  // "Seen by" goes under the newest of our messages that someone has read.
  let seenAt = null;
  for (const m of mine) if ([...t.reads.values()].some((seq) => seq >= m.seq)) seenAt = m.seq;
  const group = !t.id.startsWith('dm:');
  let previousSender;
  const items = [...stored, ...t.pending.values()].map((m) => {
    const li = el('li', 'message');
    if (m.seq !== undefined) li.dataset.seq = String(m.seq);
    li.dataset.from = m.from ?? '';
    if (m.from === null) li.classList.add('system');
    else if (m.from === demo.me) li.classList.add('mine');
    if (m.seq === undefined) li.classList.add('pending');
    if (group && m.from && m.from !== demo.me && m.from !== previousSender) {
      li.append(el('span', 'sender', m.from));
    }
    previousSender = m.from;
    if (m.reply_to !== undefined && m.reply_to !== null) {
      const quoted = t.messages.get(m.reply_to);
      const text = !quoted ? 'an earlier message' : quoted.deleted ? 'an unsent message'
        : `${quoted.from ?? 'system'}: ${quoted.body}`;
      li.append(el('span', 'quote', `↪ ${text}`));
    }
    if (m.deleted) {
      li.classList.add('unsent');
      li.append(el('span', 'bubble', 'message unsent'));
    } else {
      li.append(el('span', 'bubble', m.body));
    }
    if (m.attachments?.length) li.append(renderAttachments(m.attachments));
    if (m.reactions && Object.keys(m.reactions).length) li.append(renderReactions(t, m));
    if (m.seq !== undefined && !m.deleted && m.from !== null) li.append(renderActions(t, m));
    if (m.from !== null) {
      const meta = el('span', 'meta', clock(m.ts) + (m.edited && !m.deleted ? ' · edited' : ''));
      if (m.from === demo.me) {
        meta.append(m.failed ? ' · not sent' : m.seq === undefined ? ' · sending…' : ' · ✓');
        if (m.seq !== undefined && m.seq === seenAt) {
          const readers = [...t.reads].filter(([, seq]) => seq >= m.seq).map(([u]) => u);
          meta.append(el('span', 'seen', ` · Seen by ${list(readers)}`));
        }
      }
      li.append(meta);
    }
    return li;
  });
  box.replaceChildren(...items);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function renderThreadControls(t) {
  const group = t.kind === 'group' && t.id !== demo.lobby;
  const admin = t.admins.includes(demo.me);
  $('group-manage').hidden = !group;
  for (const id of ['group-add-input', 'group-add', 'rename-input', 'rename-button']) {
    $(id).disabled = !admin;
  }
  const dm = t.kind === 'dm' && others(t).length === 1;
  $('block-button').hidden = !dm;
  $('block-button').textContent = t.blocked ? 'Unblock' : 'Block';
  $('block-button').setAttribute('aria-pressed', String(t.blocked));
  const muted = t.muted === true || (typeof t.muted === 'number' && t.muted > Date.now());
  $('mute-button').hidden = !t.exists;
  $('mute-button').textContent = muted ? 'Unmute' : 'Mute';
  $('mute-button').setAttribute('aria-pressed', String(muted));
}

function renderAttachments(attachments) {
  const box = el('span', 'attachments');
  for (const a of attachments) {
    const link = el('a', 'attachment');
    link.href = a.url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    const preview = a.thumb ?? (a.type.startsWith('image/') || IMAGE_URL.test(a.url) ? a.url : null);
    if (preview) {
      const img = el('img');
      img.src = preview;
      img.alt = a.name ?? 'image';
      img.loading = 'lazy';
      link.append(img);
    } else {
      link.textContent = `📎 ${a.name ?? a.url}`;
    }
    box.append(link);
  }
  return box;
}

function renderReactions(t, m) {
  const box = el('span', 'reactions');
  for (const [emoji, users] of Object.entries(m.reactions)) {
    const button = el('button', 'reaction', `${emoji} ${users.length}`);
    button.type = 'button';
    button.title = list(users);
    button.dataset.emoji = emoji;
    button.setAttribute('aria-pressed', String(users.includes(demo.me)));
    button.addEventListener('click', () => react(t, m, emoji));
    box.append(button);
  }
  return box;
}

function renderActions(t, m) {
  const box = el('span', 'actions');
  const action = (name, label, handler) => {
    const button = el('button', `action ${name}`, label);
    button.type = 'button';
    button.dataset.action = name;
    button.addEventListener('click', handler);
    box.append(button);
    return button;
  };
  for (const emoji of EMOJI) {
    action('react', emoji, () => react(t, m, emoji)).dataset.emoji = emoji;
  }
  action('reply', 'reply', () => startReply(m));
  if (m.from === demo.me) {
    action('edit', 'edit', () => startEdit(m));
    action('unsend', 'unsend', () => unsend(t, m));
  }
  return box;
}

function renderComposer() {
  const t = demo.open ? demo.threads.get(demo.open) : null;
  const banner = $('composer-context');
  const seq = demo.editing ?? demo.replyTo;
  const m = t && seq !== null ? t.messages.get(seq) : null;
  banner.hidden = !m;
  if (m) {
    $('composer-context-text').textContent = demo.editing !== null
      ? 'Editing your message' : `Replying to ${m.from ?? 'system'}: ${m.body}`;
  }
  $('composer-send').textContent = demo.editing !== null ? 'Save' : 'Send';
}

function renderLike() {
  $('like-count').textContent = String(demo.likes);
  $('like-unit').textContent = demo.likes === 1 ? 'like' : 'likes';
  $('like-button').setAttribute('aria-pressed', String(demo.liked));
  $('like-label').textContent = demo.liked ? 'Liked' : 'Like';
}

function setStatus(text) {
  $('sync-status').textContent = `${clock(Date.now())} · ${text}`;
}

function toast(text) {
  const node = el('div', 'toast', text);
  $('toasts').append(node);
  setTimeout(() => node.remove(), 6000);
}

function report(err) {
  console.warn(err);
  setStatus(`Error: ${err.message}`);
}

// -- wiring ---------------------------------------------------------------------------------

function showLogin(message = '') {
  $('login').hidden = false;
  $('app').hidden = true;
  $('login-error').textContent = message;
  $('login-name').focus();
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const user = $('login-name').value.trim();
  if (!USER_ID.test(user)) {
    $('login-error').textContent = 'Use 1 to 64 letters, digits or _ . @ + -';
    return;
  }
  $('login-error').textContent = '';
  start(user).catch((err) => showLogin(err.message));
});

$('sign-out').addEventListener('click', () => {
  demo.client?.close();
  localStorage.removeItem(USER_KEY);
  sessionStorage.removeItem(OPEN_KEY);
  location.reload();
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('composer-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  if (demo.editing !== null) editMessage(text);
  else sendMessage(text);
});

$('composer-cancel').addEventListener('click', () => {
  if (demo.editing !== null) $('composer-input').value = '';
  demo.editing = null;
  demo.replyTo = null;
  renderComposer();
});

// -- groups, blocks and mutes ----------------------------------------------------------------

const userList = (text) => text.split(/[\s,]+/).map((u) => u.trim()).filter(Boolean);
const openModel = () => (demo.open ? demo.threads.get(demo.open) : null);

$('group-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const members = userList($('group-members').value);
  const title = $('group-title').value.trim() || null;
  demo.client.create(members, title).then((ack) => {
    $('group-members').value = '';
    $('group-title').value = '';
    const t = threadModel(ack.thread);
    Object.assign(t, { exists: true, kind: 'group', title, admins: [demo.me],
                       members: [...new Set([demo.me, ...members])].sort() });
    followPeople();
    openThread(ack.thread);
  }).catch((err) => toast(`Not created: ${err.message}`));
});

$('group-add').addEventListener('click', () => {
  const t = openModel();
  const add = userList($('group-add-input').value);
  if (!t || add.length === 0) return;
  demo.client.members(t.id, { add }).then((ack) => {
    $('group-add-input').value = '';
    t.members = ack.members;
    followPeople();
    render();
  }).catch((err) => toast(`Not added: ${err.message}`));
});

$('rename-button').addEventListener('click', () => {
  const t = openModel();
  const title = $('rename-input').value.trim();
  if (!t || !title) return;
  demo.client.rename(t.id, title).then(() => {
    $('rename-input').value = '';
    t.title = title;
    render();
  }).catch((err) => toast(`Not renamed: ${err.message}`));
});

$('leave-button').addEventListener('click', () => {
  const t = openModel();
  if (!t) return;
  demo.client.leave(t.id).then(() => {
    t.left = true;
    openThread(demo.lobby);
  }).catch((err) => toast(`Could not leave: ${err.message}`));
});

$('block-button').addEventListener('click', () => {
  const t = openModel();
  const other = t && others(t)[0];
  if (!other) return;
  demo.client.block(other, !t.blocked).then(() => {
    t.blocked = !t.blocked;
    render();
  }).catch((err) => toast(`Not changed: ${err.message}`));
});

$('mute-button').addEventListener('click', () => {
  const t = openModel();
  if (!t) return;
  const muted = t.muted === true || (typeof t.muted === 'number' && t.muted > Date.now());
  demo.client.mute(t.id, !muted).then(() => {
    t.muted = !muted;
    render();
  }).catch((err) => toast(`Not changed: ${err.message}`));
});

$('composer-input').addEventListener('input', (event) => noteTyping(event.target.value.trim() !== ''));
$('like-button').addEventListener('click', toggleLike);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && demo.open) {
    markRead(demo.threads.get(demo.open));
    render();
  }
});

const remembered = localStorage.getItem(USER_KEY);
if (remembered && USER_ID.test(remembered)) {
  start(remembered).catch((err) => showLogin(err.message));
} else {
  showLogin();
}
