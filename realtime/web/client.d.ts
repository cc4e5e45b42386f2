// Type declarations of client.js: the browser (and Node.js) client of the realtime
// server, protocol v1 over JSON. Field names are the wire's (docs/protocol.md).

export declare const SUBPROTOCOL: 'rt.v1.json';

/** Close codes a client acts on. */
export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  POLICY_VIOLATION: 1008;
  MESSAGE_TOO_BIG: 1009;
  INTERNAL_ERROR: 1011;
  SERVICE_RESTART: 1012;
  TRY_AGAIN_LATER: 1013;
}>;

/** The connection states, in the order a client goes through them. */
export declare const State: Readonly<{
  IDLE: 'idle';
  CONNECTING: 'connecting';
  OPEN: 'open';
  WAITING: 'waiting';
  CLOSED: 'closed';
}>;
export type ConnectionState = (typeof State)[keyof typeof State];

/** The protocol's error codes. */
export type ErrorCode =
  | 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'too_large'
  | 'rate_limited' | 'unavailable' | 'internal';

/** A request that failed; `unavailable` also means "the connection dropped: retry". */
export declare class RealtimeError extends Error {
  constructor(code: ErrorCode | string, message?: string, frame?: ErrorFrame | null);
  readonly code: ErrorCode | string;
  readonly frame: ErrorFrame | null;
}

/** The id of the DM thread between users `a` and `b`. */
export declare function dmThread(a: string, b: string): string;
/** A fresh client message id (128 random bits as hex). */
export declare function newCid(): string;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// -- server frames ---------------------------------------------------------------------

export interface Welcome {
  type: 'welcome';
  user: string;
  session: string;
  node: string;
  cursor: string;
  limits: Record<string, number>;
}

export interface Attachment {
  url: string;
  /** A MIME type. */
  type: string;
  size: number;
  name?: string;
  width?: number;
  height?: number;
  duration_ms?: number;
  /** An https URL of a small preview. */
  thumb?: string;
}

export interface Message {
  type: 'message';
  thread: string;
  seq: number;
  msg: string;
  /** null for a system message. */
  from: string | null;
  body: string;
  meta: Record<string, Json> | null;
  /** Epoch milliseconds. */
  ts: number;
  /** Only on the sender's own devices. */
  cid?: string;
  reply_to?: number;
  attachments?: Attachment[];
  edited?: number;
  deleted?: boolean;
  reactions?: Record<string, string[]>;
  cursor?: string;
}

/**
 * A change to message `target` of `thread` (an edit, an unsend or a reaction), or to the
 * group itself (`target` null): its `members` (`added`, `removed`, and the `admins`
 * after) or its `title`.
 */
export interface Update {
  type: 'update';
  thread: string;
  seq: number;
  target: number | null;
  kind: 'edit' | 'unsend' | 'react' | 'members' | 'title';
  user: string | null;
  ts: number;
  body?: string;
  meta?: Record<string, Json> | null;
  emoji?: string;
  on?: boolean;
  added?: string[];
  removed?: string[];
  admins?: string[];
  title?: string;
  cursor?: string;
}

export interface TypingEvent { type: 'typing'; thread: string; user: string; on: boolean }
export interface Receipt { type: 'receipt'; thread: string; user: string; seq: number }
export interface Likes { type: 'likes'; post: string; count: number }
export interface Presence { type: 'presence'; user: string; online: boolean; last_seen: number | null }
export interface Notification { type: 'notification'; nid: string; data: Record<string, Json>; ts: number }
export interface Synced { type: 'synced'; cursor: string; id?: string }
export interface ErrorFrame { type: 'error'; code: ErrorCode | string; message: string; id?: string }
export interface Pong { type: 'pong'; id?: string }

export interface Ack {
  type: 'ack';
  id?: string;
  thread?: string;
  seq?: number | null;
  target?: number;
  msg?: string;
  ts?: number;
  post?: string;
  count?: number;
  exp?: number;
  /** The members of a group after a `members` request. */
  members?: string[];
}

export interface HistoryReply {
  type: 'history';
  thread: string;
  messages: Message[];
  more: boolean;
  id?: string;
}

export interface ThreadEntry {
  thread: string;
  members: string[];
  last: Message | null;
  unread: number;
  title?: string;
  kind?: 'dm' | 'group';
  /** A group's admins. */
  admins?: string[];
  /** False, true (until unmuted), or until when (epoch ms). */
  muted?: boolean | number;
  /** Only on a DM whose other member this user blocks. */
  blocked?: boolean;
}

/** A durable send's reply: where the message was stored. */
export interface SendAck extends Ack { thread: string; seq: number; msg: string; ts: number }

/** Events and the value each handler gets. */
export interface RealtimeEvents {
  message: Message;
  update: Update;
  typing: TypingEvent;
  receipt: Receipt;
  likes: Likes;
  presence: Presence;
  notification: Notification;
  synced: Synced;
  welcome: Welcome;
  /** An error that answers no request. */
  error: ErrorFrame;
  /** The connection state changed; `code` is the close code of a drop. */
  state: { state: ConnectionState; code: number | null };
  /** The cursor moved: persist it to resume from there. */
  cursor: string;
  /** A replay asked for in the handshake is complete. */
  resumed: { cursor: string; replayed: number };
}

/** The WebSocket class to use: the browser's, or e.g. the `ws` package's under Node.js. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocket;

export interface ClientOptions {
  /** A JWT, or a function returning one, called before every connection attempt. */
  token: string | (() => string | Promise<string>);
  /** Resume from this cursor (kept from an earlier session). */
  cursor?: string | null;
  /** First and largest delay between attempts, milliseconds. */
  backoff?: [number, number];
  /** Milliseconds between application pings (0: off). */
  pingInterval?: number;
  /** Milliseconds a ping may take before the connection counts as dead. */
  requestTimeout?: number;
  WebSocket?: WebSocketClass | unknown;
}

export declare class RealtimeClient extends EventTarget {
  constructor(url: string, options: ClientOptions);
  /** The last `welcome`, or null before the first. */
  welcome: Welcome | null;
  /** The close code of the last connection that ended, or null. */
  closeCode: number | null;
  readonly cursor: string | null;
  readonly state: ConnectionState;
  readonly user: string | null;

  /** Listen to an event; returns a function that stops listening. */
  on<K extends keyof RealtimeEvents>(type: K, handler: (value: RealtimeEvents[K]) => void): () => void;
  /** Open the first connection; resolves with its `welcome`. */
  connect(): Promise<Welcome>;
  /** Close for good; pending requests fail. Idempotent. */
  close(): void;

  request(frame: { type: string; [field: string]: unknown }): Promise<Ack | HistoryReply | Synced | Pong | { type: string; [field: string]: unknown }>;
  send(message: {
    thread?: string; to?: string; body: string; meta?: Record<string, Json>; cid?: string;
    /** The seq of a message of the same thread this one answers. */
    replyTo?: number | null;
    /** At most 10; https URLs served by the app's own storage. */
    attachments?: Attachment[] | null;
  }): Promise<SendAck>;
  /** Edit one's own message; resolves with {thread, seq (the edit's), target}. */
  edit(thread: string, seq: number, body: string, meta?: Record<string, Json>): Promise<Ack>;
  /** Erase one's own message for everyone. */
  unsend(thread: string, seq: number): Promise<Ack>;
  /** Add or remove a reaction; the ack's `seq` is null when nothing changed. */
  react(thread: string, seq: number, emoji: string, on?: boolean): Promise<Ack>;
  /** Make a group with this user as its admin; the ack's `thread` is its id. */
  create(members: string[], title?: string | null): Promise<Ack>;
  /** Add and remove members (admins; anyone may remove themselves). */
  members(thread: string, change?: { add?: string[]; remove?: string[] }): Promise<Ack>;
  leave(thread: string): Promise<Ack>;
  /** Set a group's title (admins). */
  rename(thread: string, title: string): Promise<Ack>;
  /** Block or unblock a user; they are never told. */
  block(user: string, on?: boolean): Promise<Ack>;
  /** Mute or unmute a thread's pushes, until `until` (epoch ms) when given. */
  mute(thread: string, on?: boolean, until?: number | null): Promise<Ack>;
  /** False when not connected (nothing is sent). */
  typing(thread: string, on?: boolean): boolean;
  read(thread: string, seq: number): Promise<Ack>;
  history(thread: string, page?: { before?: number; limit?: number }): Promise<HistoryReply>;
  threads(): Promise<ThreadEntry[]>;
  like(post: string, on?: boolean): Promise<Ack>;
  subscribe(topic: string): Promise<Ack>;
  unsubscribe(topic: string): Promise<Ack>;
  sync(): Promise<Synced>;
  device(token: string, platform?: 'web' | 'android' | 'ios'): Promise<Ack>;
  refresh(token: string): Promise<Ack>;
  ping(): Promise<Pong>;
}
