/**
 * A browser client for the realtime server, protocol v1 over JSON (`rt.v1.json`).
 *
 * One `RealtimeClient` holds one WebSocket at a time and reconnects by itself, with an
 * exponential backoff and jitter. It keeps the cursor of the last message it processed and
 * resumes from it, so the server replays whatever was missed before any live frame: nothing
 * is lost across drops, and a message seen twice (same thread and `seq`) is dispatched once.
 *
 * Requests are matched to replies by `id` and return promises. A `send` survives drops:
 * it is sent again, with the same `cid`, on the next connection, and the server answers a
 * resend with the original message. Other requests in flight when a connection drops fail
 * with the code `unavailable`. Topics subscribed to are subscribed again on every
 * connection. Every frame that is not a reply is dispatched as an event named after its
 * `type` (`message`, `update`, `typing`, `receipt`, `likes`, `presence`, `notification`,
 * ...). An `update` (an edit, unsend or reaction of a message, named by `target`; or a
 * change of a group's `members` or `title`, `target` null) is an entry of its thread with
 * its own `seq`: it is ordered, deduplicated and resumed from exactly like a message.
 *
 * No build step and no dependency: import it as an ES module.
 *
 *     import { RealtimeClient } from '/client.js';
 *     const client = new RealtimeClient('ws://localhost:8765/ws', { token: getToken });
 *     client.on('message', (m) => console.log(m.from, m.body));
 *     await client.connect();
 *     await client.send({ to: 'bob', body: 'hi' });
 */

export const SUBPROTOCOL = 'rt.v1.json';

const ignore = () => {};

/** Close codes a client acts on (see the protocol reference). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
});

/**
 * A request that failed. `code` is one of the protocol's error codes (`bad_request`,
 * `unauthorized`, `forbidden`, `not_found`, `too_large`, `rate_limited`, `unavailable`,
 * `internal`); `unavailable` also means "the connection dropped before the reply: retry".
 */
export class RealtimeError extends Error {
  constructor(code, message, frame = null) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'RealtimeError';
    this.code = code;
    this.frame = frame;
  }
}

/** The id of the DM thread between users `a` and `b` (`a === b`: the notes thread). */
export function dmThread(a, b) {
  const [first, second] = [a, b].sort();
  return `dm:${first}:${second}`;
}

/** A fresh client message id: 128 random bits as hex (also outside secure contexts). */
export function newCid() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The connection states, in the order a client goes through them:
 * `idle` (before `connect()`), `connecting` (handshake under way), `open` (welcome
 * received), `waiting` (dropped; the next attempt is scheduled), `closed` (for good).
 */
export const State = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  OPEN: 'open',
  WAITING: 'waiting',
  CLOSED: 'closed',
});

export class RealtimeClient extends EventTarget {
  /**
   * @param {string} url  the node's WebSocket address, e.g. `ws://host:8765/ws`.
   * @param {object} options
   * @param {string | (() => string | Promise<string>)} options.token  a JWT, or a function
   *   returning one, called before every connection attempt (so it can fetch a fresh one).
   *   With a plain string, a close for policy (1008, token expired) ends the client.
   * @param {string | null} [options.cursor]  resume from this cursor (kept from an earlier
   *   session, e.g. in `localStorage`): the node replays what came after it.
   * @param {[number, number]} [options.backoff]  first and largest delay between attempts,
   *   in milliseconds. Each failed attempt doubles the delay; a random jitter takes up to
   *   half of it off.
   * @param {number} [options.pingInterval]  milliseconds between application `ping`s that
   *   detect a dead connection (the browser cannot see WebSocket pings); 0 turns them off.
   * @param {number} [options.requestTimeout]  milliseconds a `ping` may take before the
   *   connection counts as dead.
   * @param {typeof WebSocket} [options.WebSocket]  the WebSocket class (tests, Node.js).
   */
  constructor(url, {
    token,
    cursor = null,
    backoff = [250, 10000],
    pingInterval = 25000,
    requestTimeout = 10000,
    WebSocket: WebSocketClass = globalThis.WebSocket,
  } = {}) {
    super();
    if (!token) throw new TypeError('a token (or a function returning one) is required');
    this._url = url;
    this._token = token;
    this._cursor = cursor;
    this._backoff = backoff;
    this._pingInterval = pingInterval;
    this._requestTimeout = requestTimeout;
    this._WebSocket = WebSocketClass;
    this._ws = null;
    this._state = State.IDLE;
    this._ids = 1;
    this._pending = new Map();    // id -> {frame, resolve, reject, durable}
    this._topics = new Set();
    this._lastSeq = new Map();    // thread -> highest seq dispatched
    this._attempt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._replay = null;          // {count} while a handshake replay runs
    this._connected = null;       // {resolve, reject} of connect()
    /** The last `welcome` frame received, or null before the first. */
    this.welcome = null;
    /** The close code of the last connection that ended, or null. */
    this.closeCode = null;
  }

  /** The position after the last message (or `synced`) processed: persist it to resume. */
  get cursor() { return this._cursor; }

  /** One of {@link State}. */
  get state() { return this._state; }

  /** The user the node identified from the token, once welcomed. */
  get user() { return this.welcome ? this.welcome.user : null; }

  /**
   * Listen to an event; returns a function that stops listening. `handler` gets the frame
   * (for `state`: `{state, code}`; for `resumed`: `{cursor, replayed}`).
   *
   * Events: every server frame type that is not a reply (`message`, `typing`, `receipt`,
   * `likes`, `presence`, `notification`, `synced`, `welcome`, and `error` for errors that
   * answer no request), plus `state` (the connection state changed), `cursor` (the cursor
   * moved: persist it), and `resumed` (a replay asked for in the handshake is complete).
   */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * Open the first connection. Resolves with the `welcome` frame; later drops are
   * reconnected without another call. Rejects only if `close()` is called first.
   */
  connect() {
    if (this._state !== State.IDLE) throw new Error('connect() was already called');
    const welcomed = new Promise((resolve, reject) => { this._connected = { resolve, reject }; });
    this._open();
    return welcomed;
  }

  /** Close the connection and stop reconnecting; pending requests fail. Idempotent. */
  close() {
    if (this._state === State.CLOSED) return;
    this._setState(State.CLOSED);
    clearTimeout(this._retryTimer);
    this._stopPings();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = ignore;
      ws.close(CloseCode.NORMAL);
    }
    this._failPending(new RealtimeError('unavailable', 'the client is closed'), true);
    if (this._connected) {
      this._connected.reject(new RealtimeError('unavailable', 'closed before connecting'));
      this._connected = null;
    }
  }

  // -- requests ---------------------------------------------------------------------------

  /**
   * Send `frame` (a map with a `type`) and resolve with its reply; rejects with a
   * {@link RealtimeError} on an `error` reply, or `unavailable` when not connected.
   */
  request(frame) {
    return this._request(frame, false);
  }

  /**
   * Post a message to `thread`, or to the DM with user `to`. Resolves with the `ack`
   * {thread, seq, msg, ts} once the message is durable. `cid` defaults to a fresh one;
   * while disconnected the message waits, and after a drop it is sent again with the same
   * `cid`, so it is stored once.
   */
  send({ thread, to, body, meta, replyTo, attachments, cid = newCid() }) {
    const frame = { type: 'send', cid, body };
    if (thread !== undefined) frame.thread = thread;
    if (to !== undefined) frame.to = to;
    if (meta !== undefined) frame.meta = meta;
    if (replyTo !== undefined && replyTo !== null) frame.reply_to = replyTo;
    if (attachments !== undefined && attachments !== null) frame.attachments = attachments;
    return this._request(frame, true);
  }

  /**
   * Replace the body (and `meta`, when given) of message `seq` of `thread`, one of the
   * user's own. Resolves with `ack` {thread, seq (the edit's own), target}; the same edit
   * again resolves with the same `seq`.
   */
  edit(thread, seq, body, meta) {
    const frame = { type: 'edit', thread, seq, body };
    if (meta !== undefined) frame.meta = meta;
    return this.request(frame);
  }

  /** Erase message `seq` of `thread`, one of the user's own, for everyone. */
  unsend(thread, seq) {
    return this.request({ type: 'unsend', thread, seq });
  }

  /**
   * Add (`on`) or remove the user's `emoji` on message `seq` of `thread`. Resolves with
   * `ack` {thread, seq, target}; `seq` is null when the reaction was already so.
   */
  react(thread, seq, emoji, on = true) {
    return this.request({ type: 'react', thread, seq, emoji, on: Boolean(on) });
  }

  /**
   * Make a group of the user (its first admin) and `members` (at least one other user),
   * titled `title` when given. Resolves with `ack` {thread}; every member gets the group's
   * first entry, an `update` of kind `members`.
   */
  create(members, title) {
    const frame = { type: 'create', members: [...members] };
    if (title !== undefined && title !== null) frame.title = title;
    return this.request(frame);
  }

  /**
   * Add and remove members of group `thread` (admins; anyone may remove only themselves).
   * Resolves with `ack` {thread, members}: the members after.
   */
  members(thread, { add = [], remove = [] } = {}) {
    return this.request({ type: 'members', thread, add: [...add], remove: [...remove] });
  }

  /** Leave group `thread`: nothing more of it reaches this user. */
  leave(thread) {
    return this.request({ type: 'leave', thread });
  }

  /** Set the title of group `thread` (admins). */
  rename(thread, title) {
    return this.request({ type: 'rename', thread, title });
  }

  /**
   * Block (`on`) or unblock `user`: they cannot send to the DM with this user, follow
   * their presence or add them to a group, and are never told.
   */
  block(user, on = true) {
    return this.request({ type: 'block', user, on: Boolean(on) });
  }

  /** Mute (`on`) the pushes of `thread` to this user, until `until` (epoch ms) if given. */
  mute(thread, on = true, until) {
    const frame = { type: 'mute', thread, on: Boolean(on) };
    if (until !== undefined && until !== null) frame.until = until;
    return this.request(frame);
  }

  /**
   * Say that the user is typing in `thread` (`on`), or stopped. Ephemeral: nothing is
   * sent while disconnected, and nothing answers it. Repeat `on` at most every 3 s while
   * typing goes on (the node throttles to that and expires an indicator after 6 s).
   */
  typing(thread, on = true) {
    return this._transmit({ type: 'typing', thread, on: Boolean(on) });
  }

  /** Move the read pointer of `thread` up to `seq`; resolves with `ack` {thread, seq}. */
  read(thread, seq) {
    return this.request({ type: 'read', thread, seq });
  }

  /** A page of `thread`, newest first; resolves with `history` {thread, messages, more}. */
  history(thread, { before, limit } = {}) {
    const frame = { type: 'history', thread };
    if (before !== undefined) frame.before = before;
    if (limit !== undefined) frame.limit = limit;
    return this.request(frame);
  }

  /** The user's threads: resolves with [{thread, members, last, unread, title?}],
   *  asking for page after page until the server says no more follow. */
  async threads() {
    const all = [];
    let after;
    for (;;) {
      const frame = { type: 'threads', limit: 200 };
      if (after !== undefined) frame.after = after;
      const reply = await this.request(frame);
      all.push(...reply.threads);
      if (!reply.more || reply.threads.length === 0) return all;
      after = reply.threads[reply.threads.length - 1].thread;
    }
  }

  /** Like (`on`) or unlike `post`; resolves with `ack` {post, count}. */
  like(post, on = true) {
    return this.request({ type: 'like', post, on: Boolean(on) });
  }

  /**
   * Follow `topic` (`post:<id>` or `presence:<user>`); the current state arrives as a
   * `likes` or `presence` event before the `ack`. Followed again on every reconnection.
   */
  async subscribe(topic) {
    this._topics.add(topic);
    try {
      return await this.request({ type: 'subscribe', topic });
    } catch (err) {
      if (err.code !== 'unavailable') this._topics.delete(topic);
      throw err;
    }
  }

  /** Stop following `topic`. */
  unsubscribe(topic) {
    this._topics.delete(topic);
    return this.request({ type: 'unsubscribe', topic });
  }

  /** Ask for everything after the current cursor; resolves with `synced` once replayed. */
  sync() {
    const frame = { type: 'sync' };
    if (this._cursor !== null) frame.cursor = this._cursor;
    return this.request(frame);
  }

  /** Register this device for push; `platform` is `web`, `android` or `ios`. */
  device(token, platform = 'web') {
    return this.request({ type: 'device', token, platform });
  }

  /** Extend this connection with a fresh token; resolves with `ack` {exp} (epoch ms). */
  refresh(token) {
    if (typeof this._token === 'string') this._token = token;
    return this.request({ type: 'refresh', token });
  }

  /** An application-level round trip; resolves with `pong`. */
  ping() {
    return this.request({ type: 'ping' });
  }

  // -- connection lifecycle -------------------------------------------------------------

  async _open() {
    this._setState(State.CONNECTING);
    let token;
    try {
      token = typeof this._token === 'function' ? await this._token() : this._token;
    } catch (err) {
      this._retry();
      return;
    }
    if (this._state !== State.CONNECTING) return;  // closed meanwhile
    const url = new URL(this._url, globalThis.location?.href);
    url.searchParams.set('token', token);
    if (this._cursor !== null) url.searchParams.set('cursor', this._cursor);
    else url.searchParams.delete('cursor');
    let ws;
    try {
      ws = new this._WebSocket(url.toString(), [SUBPROTOCOL]);
    } catch (err) {
      this._retry();
      return;
    }
    this._ws = ws;
    this._replay = this._cursor !== null ? { count: 0 } : null;
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = (event) => this._dropped(ws, event.code);
    // A close event follows every error. Node's `ws` package throws an error that has no
    // listener, so there always is one.
    ws.onerror = ignore;
  }

  _dropped(ws, code) {
    if (ws !== this._ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = ignore;
    this._ws = null;
    this.closeCode = code;
    this._stopPings();
    // Sends stay pending: they go out again, with the same cid, on the next connection.
    this._failPending(new RealtimeError('unavailable', 'connection lost'), false);
    if (this._state === State.CLOSED) return;
    const wasOpen = this._state === State.OPEN;
    if (code === CloseCode.NORMAL
        || (code === CloseCode.POLICY_VIOLATION && typeof this._token === 'string')) {
      this.close();
      this.closeCode = code;
      return;
    }
    if (wasOpen) this._attempt = 0;
    this._retry(code);
  }

  _retry(code = null) {
    if (this._state === State.CLOSED) return;
    const [low, high] = this._backoff;
    const delay = Math.min(high, low * 2 ** Math.min(this._attempt, 30));
    this._attempt += 1;
    this._setState(State.WAITING, code);
    this._retryTimer = setTimeout(() => this._open(), delay / 2 + Math.random() * delay / 2);
  }

  /** Drop the current connection as dead (no pong) and reconnect. */
  _abandon() {
    const ws = this._ws;
    if (!ws) return;
    // A dead TCP connection may take minutes to report its close: do not wait for it.
    this._dropped(ws, null);
    ws.close(4000);
  }

  _setState(state, code = null) {
    if (this._state === state) return;
    this._state = state;
    this._emit('state', { state, code });
  }

  // -- frames -----------------------------------------------------------------------------

  _receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;  // not ours to understand: clients skip what they cannot read
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    if (frame.id !== undefined && this._pending.has(frame.id)) {
      const entry = this._pending.get(frame.id);
      this._pending.delete(frame.id);
      if (frame.type === 'synced') this._moveCursor(frame.cursor);
      if (frame.type === 'error') entry.reject(new RealtimeError(frame.code, frame.message, frame));
      else entry.resolve(frame);
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this._welcomed(frame);
        return;
      case 'message':
      case 'update': {
        // Replays are exactly once by contract; this guards the seams anyway.
        const last = this._lastSeq.get(frame.thread);
        if (last !== undefined && frame.seq <= last) return;
        this._lastSeq.set(frame.thread, frame.seq);
        if (this._replay) this._replay.count += 1;
        this._emit(frame.type, frame);
        if (frame.cursor !== undefined) this._moveCursor(frame.cursor);
        return;
      }
      case 'synced': {
        this._emit('synced', frame);
        this._moveCursor(frame.cursor);
        if (this._replay) {
          const replayed = this._replay.count;
          this._replay = null;
          this._emit('resumed', { cursor: frame.cursor, replayed });
        }
        return;
      }
      default:
        this._emit(frame.type, frame);
    }
  }

  _welcomed(frame) {
    this.welcome = frame;
    // A resuming connection keeps its own cursor until the replay moves it: adopting
    // "now" first would skip what is still being replayed if it dropped in between.
    if (this._cursor === null) this._moveCursor(frame.cursor);
    this._attempt = 0;
    this._setState(State.OPEN);
    this._emit('welcome', frame);
    for (const [id, entry] of this._pending) {
      if (entry.durable) this._transmit({ ...entry.frame, id });
    }
    for (const topic of this._topics) {
      this.request({ type: 'subscribe', topic }).catch(() => {});
    }
    this._startPings();
    if (this._connected) {
      this._connected.resolve(frame);
      this._connected = null;
    }
  }

  _request(frame, durable) {
    if (this._state === State.CLOSED) {
      return Promise.reject(new RealtimeError('unavailable', 'the client is closed'));
    }
    if (!durable && this._state !== State.OPEN) {
      return Promise.reject(new RealtimeError('unavailable', 'not connected'));
    }
    const id = this._ids++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { frame, resolve, reject, durable });
      if (this._state === State.OPEN) this._transmit({ ...frame, id });
    });
  }

  _transmit(frame) {
    if (this._state !== State.OPEN || !this._ws) return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  }

  _failPending(error, all) {
    for (const [id, entry] of this._pending) {
      if (all || !entry.durable) {
        this._pending.delete(id);
        entry.reject(error);
      }
    }
  }

  _moveCursor(cursor) {
    if (cursor === undefined || cursor === null || cursor === this._cursor) return;
    this._cursor = cursor;
    this._emit('cursor', cursor);
  }

  _startPings() {
    if (!this._pingInterval) return;
    this._stopPings();
    this._pingTimer = setInterval(() => {
      const ws = this._ws;
      const timeout = setTimeout(() => { if (ws === this._ws) this._abandon(); },
        this._requestTimeout);
      this.ping().catch(() => {}).finally(() => clearTimeout(timeout));
    }, this._pingInterval);
  }

  _stopPings() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
