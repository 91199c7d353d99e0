// Monkeytown protocol client: the v1 wire contract (docs/contract/PROTOCOL.md) as a reusable ES module.
// No DOM: it needs only WebSocket, fetch and (optionally) a Storage, so it runs in a browser page,
// a worker, or Node 22+ (which has both globals). docs/web.md documents the API.
//
//   const mt = new MonkeytownClient();
//   mt.on('status', ({status}) => ...);            // idle|connecting|connected|reconnecting|offline|closed
//   mt.on('game_state', (msg) => ...);             // every server message type is an event
//   await mt.guest();                              // or register(u, p) / login(u, p) / connect()
//   const {gameId} = await mt.createGame('tictactoe', {vsAgent: 'random'});
//   await mt.input(gameId, {cell: 5});             // resolves with the first message carrying re
//
// What it guarantees to the code above it:
//   - send() resolves with the first message that answers the request (carries its re), or
//     rejects with a MonkeytownError holding the server's {code, message}.
//   - Every game log event (game_event, player_joined, player_left, chat_message, game_over) is
//     delivered exactly once per (gameId, seq), in seq order: across reconnects the client sends
//     resume {gameId, lastSeq} for every game it is in, unpacks the replay, and drops anything it
//     has already delivered. A game_state is always delivered (it is a snapshot, not an event).
//     After a server restart that lost events it had sent (a `replay` whose seq is below
//     lastSeq), a 'rewind' {gameId, from, to} event withdraws seqs from..to, which then come
//     again as new events.
//   - The socket comes back by itself after a drop: exponential backoff with jitter, at once when
//     the browser says it is online again; subscriptions (lobby, evolution) are renewed.

/** Message types that are events of a game's log and take a seq of their own. */
export const LOG_TYPES = new Set(['game_event', 'player_joined', 'player_left', 'chat_message', 'game_over']);

const DEFAULT_STORAGE_KEY = 'monkeytown.auth';

/** An error answer from the server (WebSocket `error` or HTTP `{error:{code,message}}`), or a
 *  client-side failure: OFFLINE (not connected), DISCONNECTED (the socket dropped before the
 *  answer), TIMEOUT, NETWORK (HTTP request failed), BAD_RESPONSE. */
export class MonkeytownError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'MonkeytownError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** The claims of a JWT (no signature check: only the server can do that). */
export function decodeToken(token) {
  try {
    const part = String(token).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
    const text = decodeURIComponent(Array.from(atob(b64), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

function defaultStorage() {
  try {
    const s = globalThis.localStorage;
    if (s) {
      s.getItem('x');
      return s;
    }
  } catch {
    /* storage blocked (private mode, sandboxed frame): keep the token in memory */
  }
  return memoryStorage();
}

export class MonkeytownClient {
  /**
   * @param {object} [opts]
   * @param {string} [opts.url]      WebSocket URL; default ws(s)://<page host>/ws
   * @param {string} [opts.baseUrl]  HTTP origin for /api/...; default the page's origin
   * @param {string} [opts.token]    a token to use instead of the stored one
   * @param {Storage} [opts.storage] where the session is kept; default localStorage (memory when absent)
   * @param {string} [opts.storageKey]
   * @param {number} [opts.heartbeatMs=15000]  RTT probe interval
   * @param {number} [opts.requestTimeoutMs=15000]  default timeout of send(); 0: none
   * @param {{initial?:number,max?:number,factor?:number}} [opts.backoff]  reconnect delays, ms
   */
  constructor(opts = {}) {
    const loc = globalThis.location;
    this.baseUrl = opts.baseUrl ?? (loc && loc.origin && loc.origin !== 'null' ? loc.origin : '');
    this.url = opts.url ?? (loc ? `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws` : '');
    this.storage = opts.storage ?? defaultStorage();
    this.storageKey = opts.storageKey ?? DEFAULT_STORAGE_KEY;
    this.heartbeatMs = opts.heartbeatMs ?? 15000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.backoff = { initial: 500, max: 15000, factor: 2, ...(opts.backoff || {}) };
    this._WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    this._fetch = opts.fetch ?? ((...a) => globalThis.fetch(...a));

    this.auth = null; // {token, playerId, name, guest}
    if (opts.token) this._setAuth({ token: opts.token, guest: false }, false);
    else this.auth = this._loadAuth();

    this.ws = null;
    this.status = 'idle';
    this.player = null; // the last welcome payload
    this.sessionId = null;
    this.rtt = null; // ms, from the last heartbeat
    this.clockOffset = 0; // serverTime - Date.now(), ms
    this.games = new Map(); // gameId -> {lastSeq, resuming}
    this.topics = new Set();
    this.stats = { connects: 0, duplicates: 0, gaps: 0, resyncs: 0, rewinds: 0 };

    this._handlers = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._want = false; // should a socket be open?
    this._attempt = 0;
    this._retryTimer = null;
    this._retryAt = 0;
    this._hbTimer = null;
    this._preOpenFailures = 0;
    this._waiters = [];

    if (globalThis.addEventListener) {
      globalThis.addEventListener('online', () => {
        if (this._want && this._retryTimer) this._retryNow();
      });
      globalThis.addEventListener('offline', () => {
        if (this.status === 'reconnecting') this._setStatus('offline');
      });
    }
  }

  // ---------------------------------------------------------------- events

  /** Calls fn(payloadOrMessage) for each event of that type; returns a function that unsubscribes.
   *  Server message types get the whole message ({type, payload, gameId?, seq?, re?, replayed?}).
   *  Client events: 'status' {status, attempt?, retryAt?}, 'welcome' (payload), 'rtt' (ms),
   *  'message' (every message), 'resync' {gameId, from, to}, 'game_gone' {gameId, error},
   *  'auth' (auth or null), 'error' (an error message that answered nothing). */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._handlers.get(type)?.delete(fn);
  }

  /** Resolves with the next event of that type for which pred (if any) is true. */
  once(type, pred, timeoutMs = 0) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const off = this.on(type, (m) => {
        if (pred && !pred(m)) return;
        off();
        clearTimeout(timer);
        resolve(m);
      });
      if (timeoutMs > 0)
        timer = setTimeout(() => {
          off();
          reject(new MonkeytownError('TIMEOUT', `no ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
    });
  }

  _emit(type, arg) {
    const set = this._handlers.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (e) {
        console.error(`monkeytown: a '${type}' handler failed`, e);
      }
    }
  }

  _setStatus(status, extra = {}) {
    const changed = status !== this.status;
    this.status = status;
    if (changed || extra.attempt !== undefined) this._emit('status', { status, ...extra });
  }

  // ---------------------------------------------------------------- auth (HTTP)

  _loadAuth() {
    try {
      const raw = this.storage.getItem(this.storageKey);
      const a = raw ? JSON.parse(raw) : null;
      if (!a || typeof a.token !== 'string') return null;
      const claims = decodeToken(a.token);
      if (claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
        this.storage.removeItem(this.storageKey);
        return null;
      }
      return a;
    } catch {
      return null;
    }
  }

  _setAuth(a, persist = true) {
    if (a && a.token) {
      const c = decodeToken(a.token) || {};
      a = { playerId: c.sub, name: c.name, ...a };
    }
    this.auth = a && a.token ? a : null;
    if (persist) {
      try {
        if (this.auth) this.storage.setItem(this.storageKey, JSON.stringify(this.auth));
        else this.storage.removeItem(this.storageKey);
      } catch {
        /* storage full or blocked: the session lasts as long as the page */
      }
    }
    this._emit('auth', this.auth);
  }

  /** The token in use (null for a socket that will become a new guest). */
  get token() {
    return this.auth ? this.auth.token : null;
  }

  /** A JSON request to the server's HTTP API. Resolves with the parsed body; rejects with a
   *  MonkeytownError (code from the body's error, plus `status`). */
  async http(method, path, body, { auth = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    let res;
    try {
      res = await this._fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new MonkeytownError('NETWORK', `cannot reach the server (${e.message})`, { status: 0 });
    }
    let data = null;
    const text = await res.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      throw new MonkeytownError(err.code || `HTTP_${res.status}`, err.message || `HTTP ${res.status}`, {
        status: res.status,
      });
    }
    if (data === null) throw new MonkeytownError('BAD_RESPONSE', 'the server sent no JSON', { status: res.status });
    return data;
  }

  /** Signs in as a new guest: POST /api/auth/guest, or, when the server has no such endpoint,
   *  a socket without a token (whose welcome carries the guest's token). Resolves with welcome. */
  async guest() {
    try {
      const r = await this.http('POST', '/api/auth/guest', {});
      this._setAuth({ token: r.token, playerId: r.playerId, name: r.name, guest: true });
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
      this._setAuth(null);
    }
    return this.reconnect();
  }

  /** Creates an account (201 {token, playerId}; 409 CONFLICT-like error when the name is taken),
   *  signs in with it and resolves with the new socket's welcome. */
  async register(username, password) {
    const r = await this.http('POST', '/api/auth/register', { username, password });
    this._setAuth({ token: r.token, playerId: r.playerId, name: r.name || username, guest: false });
    return this.reconnect();
  }

  /** Signs in to an account (200 {token, playerId}; 401 on a wrong password). */
  async login(username, password) {
    const r = await this.http('POST', '/api/auth/login', { username, password });
    this._setAuth({ token: r.token, playerId: r.playerId, name: r.name || username, guest: false });
    return this.reconnect();
  }

  /** Forgets the session and closes the socket. */
  signOut() {
    this._setAuth(null);
    this.games.clear();
    this.topics.clear();
    this.close();
  }

  // ---------------------------------------------------------------- the socket

  /** Opens the socket (with the stored token, or as a new guest) and keeps it open until close().
   *  Resolves with the welcome payload of the first socket that opens. */
  connect() {
    this._want = true;
    if (this.status === 'connected' && this.player) return Promise.resolve(this.player);
    const p = new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
    if (!this.ws && !this._retryTimer) this._open();
    return p;
  }

  /** Drops the current socket (if any) and opens a new one at once, e.g. after a new sign-in. */
  reconnect() {
    this._detach('reconnect');
    this._attempt = 0;
    return this.connect();
  }

  /** Closes the socket for good (until the next connect()). */
  close() {
    this._want = false;
    this._detach('close');
    this._setStatus('closed');
    for (const w of this._waiters.splice(0)) w.reject(new MonkeytownError('CLOSED', 'the client was closed'));
  }

  /** Whether a socket is open and welcomed. */
  get connected() {
    return this.status === 'connected';
  }

  _open() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const url = this.token ? `${this.url}?token=${encodeURIComponent(this.token)}` : this.url;
    const offline = globalThis.navigator && globalThis.navigator.onLine === false;
    this._setStatus(offline ? 'offline' : this.stats.connects === 0 && this._attempt === 0 ? 'connecting' : 'reconnecting', {
      attempt: this._attempt,
    });
    let ws;
    try {
      ws = new this._WebSocket(url);
    } catch (e) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws._mtOpened = false;
    ws.onopen = () => {
      ws._mtOpened = true;
    };
    ws.onmessage = (ev) => {
      if (ws === this.ws) this._onFrame(ev.data);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (ws === this.ws) this._onClose(ws, ev);
    };
  }

  /** Drops the socket as if the network had cut it: the client reconnects and resumes. (What the
   *  heartbeat does when a probe goes unanswered; handy in tests.) */
  dropSocket() {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(4000, 'dropped');
    } catch {
      /* already closed */
    }
    this._onClose(ws, { code: 4000 });
  }

  /** Forgets the current socket without triggering a reconnect, failing what waits on it. */
  _detach(why) {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this._hbTimer);
    this._hbTimer = null;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, why);
      } catch {
        /* already closed */
      }
    }
    this._failPending(why === 'close' ? 'CLOSED' : 'DISCONNECTED');
    for (const g of this.games.values()) g.resuming = null;
  }

  _failPending(code) {
    const pend = [...this._pending.values()];
    this._pending.clear();
    for (const p of pend) {
      clearTimeout(p.timer);
      p.reject(new MonkeytownError(code, 'the connection dropped before the answer came'));
    }
  }

  _onClose(ws, ev) {
    const opened = ws._mtOpened;
    this.ws = null;
    clearInterval(this._hbTimer);
    this._hbTimer = null;
    this._failPending('DISCONNECTED');
    for (const g of this.games.values()) g.resuming = null;
    if (!this._want) {
      this._setStatus('closed');
      return;
    }
    if (!opened && this.token) {
      // The upgrade was refused or the server is down. A refused token (401, e.g. a server
      // restarted with a new secret) looks the same to a browser as a dead server, so ask.
      this._preOpenFailures++;
      this._checkToken().then((bad) => {
        if (!bad || !this._want || this.ws) return;
        const wasGuest = !this.auth || this.auth.guest;
        this._setAuth(null);
        this._emit('auth_lost', { reason: bad, guest: wasGuest });
        if (wasGuest) {
          this.games.clear();
          this._retryNow(); // a new guest
        } else {
          this._want = false;
          clearTimeout(this._retryTimer);
          this._retryTimer = null;
          this._setStatus('closed');
          for (const w of this._waiters.splice(0)) w.reject(new MonkeytownError('UNAUTHORIZED', bad));
        }
      });
    }
    this._scheduleRetry(ev && ev.code);
  }

  /** Resolves with a reason when the server refuses our token, else null. Uses a side-effect-free
   *  authenticated request: joining a game that cannot exist answers 401 (bad token) before 404. */
  async _checkToken() {
    const claims = decodeToken(this.token);
    if (!claims) return 'the stored session is not a token';
    if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) return 'the session expired';
    try {
      await this.http('POST', '/api/games/-/join', undefined, { auth: true });
      return null;
    } catch (e) {
      return e.status === 401 ? e.message || 'the server no longer accepts this session' : null;
    }
  }

  _scheduleRetry() {
    if (!this._want) return;
    const b = this.backoff;
    const base = Math.min(b.max, b.initial * Math.pow(b.factor, this._attempt));
    const delay = Math.round(base / 2 + Math.random() * (base / 2)); // "equal jitter"
    this._attempt++;
    this._retryAt = Date.now() + delay;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._open();
    }, delay);
    const offline = globalThis.navigator && globalThis.navigator.onLine === false;
    this._setStatus(offline ? 'offline' : 'reconnecting', { attempt: this._attempt, retryAt: this._retryAt });
  }

  _retryNow() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (!this.ws) this._open();
  }

  _onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (!msg.payload || typeof msg.payload !== 'object') msg.payload = {};

    let answered = false;
    if (msg.re !== undefined && this._pending.has(msg.re)) {
      const p = this._pending.get(msg.re);
      this._pending.delete(msg.re);
      clearTimeout(p.timer);
      answered = true;
      if (msg.type === 'error') p.reject(new MonkeytownError(msg.payload.code, msg.payload.message, { answer: msg }));
      else p.resolve(msg);
    }

    switch (msg.type) {
      case 'welcome':
        this._onWelcome(msg.payload);
        this._emit('message', msg);
        return;
      case 'replay':
        this._onReplay(msg);
        return;
      case 'error':
        this._emit('message', msg);
        if (!answered) this._emit('error', msg);
        return;
      default:
        this._deliver(msg);
    }
  }

  _onWelcome(p) {
    const first = this.stats.connects === 0;
    this.stats.connects++;
    this.player = p;
    this.sessionId = p.sessionId;
    if (typeof p.serverTime === 'number') this.clockOffset = p.serverTime - Date.now();
    if (p.token) this._setAuth({ token: p.token, playerId: p.playerId, name: p.name, guest: true });
    else if (this.auth && (this.auth.playerId !== p.playerId || this.auth.name !== p.name))
      this._setAuth({ ...this.auth, playerId: p.playerId, name: p.name });
    this._attempt = 0;
    this._preOpenFailures = 0;
    this._setStatus('connected', { reconnected: !first });
    this._emit('welcome', p);
    for (const w of this._waiters.splice(0)) w.resolve(p);
    clearInterval(this._hbTimer);
    this._hbTimer = setInterval(() => this.ping().catch(() => {}), this.heartbeatMs);
    this.ping().catch(() => {});
    for (const topic of this.topics) this.send('subscribe', { topic }).catch(() => {});
    for (const [gameId, g] of this.games) this._resume(gameId, g.lastSeq ?? 0);
  }

  /** Sends heartbeat and resolves with the round-trip time in ms. A probe unanswered within
   *  10 s means the socket is dead even if the browser has not noticed: it is dropped and
   *  reconnected. */
  async ping() {
    const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
    const ws = this.ws;
    let msg;
    try {
      msg = await this.send('heartbeat', { timestamp: Date.now() }, { timeout: 10000 });
    } catch (e) {
      if (e.code === 'TIMEOUT' && ws && ws === this.ws) this.dropSocket();
      throw e;
    }
    const t1 = typeof performance !== 'undefined' ? performance.now() : Date.now();
    this.rtt = Math.round((t1 - t0) * 10) / 10;
    if (typeof msg.payload.serverTime === 'number')
      this.clockOffset = msg.payload.serverTime - (Date.now() - this.rtt / 2);
    this._emit('rtt', this.rtt);
    return this.rtt;
  }

  /** The server's clock (ms since the epoch), as best known: for turn deadlines. */
  serverNow() {
    return Date.now() + this.clockOffset;
  }

  // ---------------------------------------------------------------- sending

  /** Sends {type, payload, id} and resolves with the first message carrying re == id (rejects
   *  with MonkeytownError on an error answer, a drop, or after timeout ms; 0 waits forever). */
  send(type, payload = {}, opts = {}) {
    return this._request(type, payload, opts).promise;
  }

  _request(type, payload, { timeout = this.requestTimeoutMs } = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.status !== 'connected')
      return { id: null, promise: Promise.reject(new MonkeytownError('OFFLINE', 'not connected to the server')) };
    const id = this._nextId++;
    const promise = new Promise((resolve, reject) => {
      const entry = { resolve, reject, type, timer: null };
      if (timeout > 0)
        entry.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(new MonkeytownError('TIMEOUT', `no answer to ${type} within ${timeout} ms`));
        }, timeout);
      this._pending.set(id, entry);
      try {
        ws.send(JSON.stringify({ type, id, payload }));
      } catch (e) {
        this._pending.delete(id);
        clearTimeout(entry.timer);
        reject(new MonkeytownError('OFFLINE', e.message));
      }
    });
    return { id, promise };
  }

  /** Sends without an id (no answer expected). Returns false when not connected. */
  post(type, payload = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  // ---------------------------------------------------------------- games and seq

  _game(gameId) {
    let g = this.games.get(gameId);
    if (!g) {
      g = { lastSeq: null, resuming: null };
      this.games.set(gameId, g);
    }
    return g;
  }

  /** Delivers one game-scoped or global message, dropping log events already delivered. */
  _deliver(msg) {
    const gameId = msg.gameId;
    if (typeof gameId === 'string' && typeof msg.seq === 'number' && msg.type !== 'left') {
      const g = this._game(gameId);
      if (LOG_TYPES.has(msg.type)) {
        if (g.lastSeq !== null && msg.seq <= g.lastSeq) {
          this.stats.duplicates++;
          return;
        }
        if (g.lastSeq !== null && msg.seq > g.lastSeq + 1) {
          // Something went missing: fetch it (and this one) through resume, in order.
          this.stats.gaps++;
          if (!g.resuming && !msg.replayed) this._resume(gameId, g.lastSeq);
          return;
        }
        g.lastSeq = msg.seq;
      } else if (msg.type === 'game_state') {
        if (g.resuming !== null && msg.re === g.resuming) {
          // The answer to resume without a replay: the gap was older than the server's buffer.
          g.resuming = null;
          if (g.lastSeq !== null && msg.seq > g.lastSeq) {
            this.stats.resyncs++;
            this._emit('resync', { gameId, from: g.lastSeq + 1, to: msg.seq });
          }
          if (g.lastSeq === null || msg.seq > g.lastSeq) g.lastSeq = msg.seq;
        } else if (g.lastSeq === null) {
          g.lastSeq = msg.seq;
        } else if (msg.seq > g.lastSeq && !g.resuming) {
          this.stats.gaps++;
          this._resume(gameId, g.lastSeq);
        }
      }
    }
    this._emit(msg.type, msg);
    this._emit('message', msg);
  }

  _onReplay(msg) {
    const gameId = msg.gameId;
    const g = this._game(gameId);
    const events = Array.isArray(msg.payload.events) ? msg.payload.events : [];
    const isAnswer = g.resuming !== null && msg.re === g.resuming;
    if (isAnswer) g.resuming = null;
    if (isAnswer && typeof msg.seq === 'number' && g.lastSeq !== null && msg.seq < g.lastSeq) {
      // The server restarted without the last events it sent (its record of them was lost):
      // they are withdrawn, and the seqs after msg.seq will be sent again, possibly with other
      // content (docs/protocol.md, resume).
      this.stats.rewinds++;
      this._emit('rewind', { gameId, from: msg.seq + 1, to: g.lastSeq });
      g.lastSeq = msg.seq;
    }
    for (const ev of events) {
      this._deliver({ type: ev.type, gameId, seq: ev.seq, payload: ev.payload || {}, replayed: true });
    }
    this._emit('replay', msg);
    this._emit('message', msg);
  }

  _resume(gameId, lastSeq) {
    const g = this._game(gameId);
    const { id, promise } = this._request('resume', { gameId, lastSeq: Math.max(0, lastSeq | 0) });
    g.resuming = id;
    promise.catch((e) => {
      if (g.resuming === id) g.resuming = null;
      if (e.code === 'NOT_FOUND' && this.games.get(gameId) === g) {
        this.games.delete(gameId);
        this._emit('game_gone', { gameId, error: e });
      }
    });
    return promise;
  }

  /** The seq of the last log event delivered for a game (null when none yet). */
  lastSeq(gameId) {
    const g = this.games.get(gameId);
    return g ? g.lastSeq : null;
  }

  /** Re-attaches to a game: asks for every event after fromSeq (e.g. after a page reload, 0
   *  replays its whole log). Events this client already delivered are still dropped, so asking
   *  for more than needed is harmless. Resolves with the first answer (replay or game_state). */
  resume(gameId, fromSeq = 0) {
    const g = this._game(gameId);
    if (g.lastSeq === null) g.lastSeq = fromSeq;
    return this._resume(gameId, fromSeq);
  }

  /** Registers a game to resume on the next (re)connect without sending anything now (for a
   *  page that starts offline, e.g. a reload on a game's URL). */
  track(gameId, lastSeq = 0) {
    const g = this._game(gameId);
    if (g.lastSeq === null) g.lastSeq = lastSeq;
  }

  /** Stops tracking a game: it is not resumed after a reconnect any more. */
  forget(gameId) {
    this.games.delete(gameId);
  }

  /** create_game; resolves with {gameId, game} (game_created). The game_state follows as an event. */
  async createGame(game, { vsAgent, config, private: priv } = {}) {
    const payload = { game };
    if (vsAgent) payload.vsAgent = vsAgent;
    if (config) payload.config = config;
    if (priv !== undefined) payload.private = !!priv;
    const msg = await this.send('create_game', payload);
    this._game(msg.payload.gameId);
    return msg.payload;
  }

  /** join_game as a player; resolves with the game_state message. */
  async joinGame(gameId, as = 'player') {
    const g = this._game(gameId);
    try {
      return await this.send('join_game', { gameId, as });
    } catch (e) {
      if (g.lastSeq === null) this.games.delete(gameId);
      throw e;
    }
  }

  /** join_game as a spectator. */
  watch(gameId) {
    return this.joinGame(gameId, 'spectator');
  }

  /** quick_match; resolves with the game_state message once matched (no timeout: it may wait). */
  async quickMatch(game, { agent, waitMs } = {}) {
    const payload = { game };
    if (agent !== undefined && agent !== null) payload.agent = agent;
    if (waitMs !== undefined) payload.waitMs = waitMs;
    const msg = await this.send('quick_match', payload, { timeout: 0 });
    this._game(msg.gameId);
    return msg;
  }

  /** player_input; resolves with the first message it caused (usually the move's game_event).
   *  A real-time game queues a valid input for its next tick and sends no answer (only an
   *  invalid one is answered, by an error): pass {realtime: true} to resolve with null after
   *  `timeout` ms (default 1500) instead of rejecting. */
  input(gameId, action, { realtime = false, timeout } = {}) {
    if (!realtime) return this.send('player_input', { gameId, action }, timeout ? { timeout } : {});
    return this.send('player_input', { gameId, action }, { timeout: timeout || 1500 }).catch((e) => {
      if (e.code === 'TIMEOUT') return null;
      throw e;
    });
  }

  /** chat_message; resolves with its own broadcast. */
  chat(gameId, text) {
    return this.send('chat_message', { gameId, text });
  }

  /** leave_game (forfeits a running turn-based game for a seated player); forgets the game. */
  async leave(gameId) {
    try {
      return await this.send('leave_game', { gameId });
    } finally {
      this.games.delete(gameId);
    }
  }

  /** subscribe {topic}; renewed by itself after every reconnect. */
  subscribe(topic) {
    this.topics.add(topic);
    if (!this.connected) return Promise.resolve(null);
    return this.send('subscribe', { topic });
  }

  // ---------------------------------------------------------------- HTTP reads

  listGames() {
    return this.http('GET', '/api/games');
  }

  listAgents() {
    return this.http('GET', '/api/agents');
  }

  listRooms() {
    return this.http('GET', '/api/rooms');
  }

  getGame(gameId) {
    return this.http('GET', `/api/games/${encodeURIComponent(gameId)}`);
  }
}

export default MonkeytownClient;
