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
//   - Every game log event (game_event, player_joined, player_left, chat_message, gm_changed,
//     game_over) is delivered exactly once per (gameId, seq), in seq order: across reconnects
//     the client sends resume {gameId, lastSeq} for every game it is in, unpacks the replay,
//     and drops anything it has already delivered. A game_state is always delivered (it is a snapshot, not an event).
//     After a crash that lost events it had sent (a `replay` with `payload.rewind`, or whose seq
//     is below lastSeq), a 'rewind' {gameId, from, to} event withdraws seqs from..to, which then
//     come again as new events.
//   - The socket comes back by itself after a drop: exponential backoff with jitter, at once when
//     the browser says it is online again; subscriptions (lobby, evolution) are renewed.

import { AuthStore, MonkeytownError, decodeToken, defaultStorage, httpJson, tokenExpired } from './client/auth.js';
import { Connection } from './client/connection.js';
import { GameLog, LOG_TYPES } from './client/gamelog.js';

export { LOG_TYPES, MonkeytownError, decodeToken };

const DEFAULT_STORAGE_KEY = 'monkeytown.auth';
const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

// The class is the public face; its three parts live in client/: auth.js (the session and HTTP),
// connection.js (the socket, backoff, requests by id) and gamelog.js (seq order, resume).
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
    this._fetch = opts.fetch ?? ((...a) => globalThis.fetch(...a));

    this._handlers = new Map();
    this._waiters = [];
    this._auth = new AuthStore(this.storage, this.storageKey, (a) => this._emit('auth', a));
    if (opts.token) this._auth.set({ token: opts.token, guest: false }, false);
    else this._auth.load();

    this.player = null; // the last welcome payload
    this.sessionId = null;
    this.rtt = null; // ms, from the last heartbeat
    this.clockOffset = 0; // serverTime - Date.now(), ms
    this.topics = new Set();
    this.stats = { connects: 0, duplicates: 0, gaps: 0, resyncs: 0, rewinds: 0 };
    this._conn = new Connection({
      WebSocket: opts.WebSocket ?? globalThis.WebSocket,
      backoff: this.backoff,
      requestTimeoutMs: this.requestTimeoutMs,
      stats: this.stats,
      url: () => (this.token ? `${this.url}?token=${encodeURIComponent(this.token)}` : this.url),
      onStatus: (status, extra) => this._emit('status', { status, ...extra }),
      onMessage: (msg, answered) => this._onMessage(msg, answered),
      onDrop: (opened) => this._onDrop(opened),
    });
    this._log = new GameLog(this.stats, (t, a) => this._emit(t, a), (t, p) => this._conn.request(t, p));

    if (globalThis.addEventListener) {
      globalThis.addEventListener('online', () => {
        if (this._conn.want && this._conn.waiting) this._conn.retryNow();
      });
      globalThis.addEventListener('offline', () => {
        if (this.status === 'reconnecting') this._conn.setStatus('offline');
      });
    }
  }

  /** The session {token, playerId, name, guest}, or null. */
  get auth() {
    return this._auth.current;
  }

  /** The open WebSocket, or null. */
  get ws() {
    return this._conn.ws;
  }

  /** idle | connecting | connected | reconnecting | offline | closed */
  get status() {
    return this._conn.status;
  }

  /** gameId -> {lastSeq, resuming} for every game the client resumes after a reconnect. */
  get games() {
    return this._log.games;
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

  // ---------------------------------------------------------------- auth (HTTP)

  /** The token in use (null for a socket that will become a new guest). */
  get token() {
    return this._auth.token;
  }

  /** A JSON request to the server's HTTP API. Resolves with the parsed body; rejects with a
   *  MonkeytownError (code from the body's error, plus `status`). */
  http(method, path, body, { auth = false } = {}) {
    return httpJson(this._fetch, this.baseUrl + path, method, body, auth ? this.token : null);
  }

  /** Signs in as a new guest: POST /api/auth/guest, or, when the server has no such endpoint,
   *  a socket without a token (whose welcome carries the guest's token). Resolves with welcome. */
  async guest() {
    try {
      const r = await this.http('POST', '/api/auth/guest', {});
      this._auth.set({ token: r.token, playerId: r.playerId, name: r.name, guest: true });
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
      this._auth.set(null);
    }
    return this.reconnect();
  }

  /** Creates an account (201 {token, playerId}; 409 CONFLICT-like error when the name is taken),
   *  signs in with it and resolves with the new socket's welcome. */
  register(username, password) {
    return this._signIn('/api/auth/register', username, password);
  }

  /** Signs in to an account (200 {token, playerId}; 401 on a wrong password). */
  login(username, password) {
    return this._signIn('/api/auth/login', username, password);
  }

  async _signIn(path, username, password) {
    const r = await this.http('POST', path, { username, password });
    this._auth.set({ token: r.token, playerId: r.playerId, name: r.name || username, guest: false });
    return this.reconnect();
  }

  /** Forgets the session and closes the socket. */
  signOut() {
    this._auth.set(null);
    this.games.clear();
    this.topics.clear();
    this.close();
  }

  /** Resolves with a reason when the server refuses our token, else null. Uses a side-effect-free
   *  authenticated request: joining a game that cannot exist answers 401 (bad token) before 404. */
  async _checkToken() {
    if (!decodeToken(this.token)) return 'the stored session is not a token';
    if (tokenExpired(this.token)) return 'the session expired';
    try {
      await this.http('POST', '/api/games/-/join', undefined, { auth: true });
      return null;
    } catch (e) {
      return e.status === 401 ? e.message || 'the server no longer accepts this session' : null;
    }
  }

  // ---------------------------------------------------------------- the socket

  /** Opens the socket (with the stored token, or as a new guest) and keeps it open until close().
   *  Resolves with the welcome payload of the first socket that opens. */
  connect() {
    this._conn.want = true;
    if (this.status === 'connected' && this.player) return Promise.resolve(this.player);
    const p = new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
    if (!this.ws && !this._conn.waiting) this._conn.open();
    return p;
  }

  /** Drops the current socket (if any) and opens a new one at once, e.g. after a new sign-in. */
  reconnect() {
    this._detach('reconnect');
    this._conn.attempt = 0;
    return this.connect();
  }

  /** Closes the socket for good (until the next connect()). */
  close() {
    this._conn.want = false;
    this._detach('close');
    this._conn.setStatus('closed');
    this._rejectWaiters(new MonkeytownError('CLOSED', 'the client was closed'));
  }

  /** Whether a socket is open and welcomed. */
  get connected() {
    return this.status === 'connected';
  }

  /** Drops the socket as if the network had cut it: the client reconnects and resumes. (What the
   *  heartbeat does when a probe goes unanswered; handy in tests.) */
  dropSocket() {
    this._conn.drop();
  }

  _detach(why) {
    this._conn.detach(why);
    this._log.clearResuming();
  }

  _rejectWaiters(err) {
    for (const w of this._waiters.splice(0)) w.reject(err);
  }

  _onDrop(opened) {
    this._log.clearResuming();
    if (opened || !this._conn.want || !this.token) return;
    // The upgrade was refused or the server is down. A refused token (401, e.g. a server
    // restarted with a new secret) looks the same to a browser as a dead server, so ask.
    this._checkToken().then((bad) => {
      if (!bad || !this._conn.want || this.ws) return;
      const wasGuest = !this.auth || this.auth.guest;
      this._auth.set(null);
      this._emit('auth_lost', { reason: bad, guest: wasGuest });
      if (wasGuest) {
        this.games.clear();
        this._conn.retryNow(); // a new guest
      } else {
        this._conn.giveUp();
        this._conn.setStatus('closed');
        this._rejectWaiters(new MonkeytownError('UNAUTHORIZED', bad));
      }
    });
  }

  _onMessage(msg, answered) {
    switch (msg.type) {
      case 'welcome':
        this._onWelcome(msg.payload);
        this._emit('message', msg);
        return;
      case 'replay':
        this._log.onReplay(msg);
        return;
      case 'error':
        this._emit('message', msg);
        if (!answered) this._emit('error', msg);
        return;
      default:
        this._log.deliver(msg);
    }
  }

  _onWelcome(p) {
    const first = this.stats.connects === 0;
    this.stats.connects++;
    this.player = p;
    this.sessionId = p.sessionId;
    if (typeof p.serverTime === 'number') this.clockOffset = p.serverTime - Date.now();
    if (p.token) this._auth.set({ token: p.token, playerId: p.playerId, name: p.name, guest: true });
    else if (this.auth && (this.auth.playerId !== p.playerId || this.auth.name !== p.name))
      this._auth.set({ ...this.auth, playerId: p.playerId, name: p.name });
    this._conn.attempt = 0;
    this._conn.setStatus('connected', { reconnected: !first });
    this._emit('welcome', p);
    for (const w of this._waiters.splice(0)) w.resolve(p);
    this._conn.startHeartbeat(this.heartbeatMs, () => this.ping().catch(() => {}));
    this.ping().catch(() => {});
    for (const topic of this.topics) this.send('subscribe', { topic }).catch(() => {});
    this._log.resumeAll();
  }

  /** Sends heartbeat and resolves with the round-trip time in ms. A probe unanswered within
   *  10 s means the socket is dead even if the browser has not noticed: it is dropped and
   *  reconnected. */
  async ping() {
    const t0 = now();
    const ws = this.ws;
    let msg;
    try {
      msg = await this.send('heartbeat', { timestamp: Date.now() }, { timeout: 10000 });
    } catch (e) {
      if (e.code === 'TIMEOUT' && ws && ws === this.ws) this.dropSocket();
      throw e;
    }
    this.rtt = Math.round((now() - t0) * 10) / 10;
    if (typeof msg.payload.serverTime === 'number') this.clockOffset = msg.payload.serverTime - (Date.now() - this.rtt / 2);
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
    return this._conn.request(type, payload, opts).promise;
  }

  /** Sends without an id (no answer expected). Returns false when not connected. */
  post(type, payload = {}) {
    return this._conn.post(type, payload);
  }

  // ---------------------------------------------------------------- games and seq

  /** The seq of the last log event delivered for a game (null when none yet). */
  lastSeq(gameId) {
    return this._log.lastSeq(gameId);
  }

  /** Re-attaches to a game: asks for every event after fromSeq (e.g. after a page reload, 0
   *  replays its whole log). Events this client already delivered are still dropped, so asking
   *  for more than needed is harmless. Resolves with the first answer (replay or game_state). */
  resume(gameId, fromSeq = 0) {
    this._log.track(gameId, fromSeq);
    return this._log.resume(gameId, fromSeq);
  }

  /** Registers a game to resume on the next (re)connect without sending anything now (for a
   *  page that starts offline, e.g. a reload on a game's URL). */
  track(gameId, lastSeq = 0) {
    this._log.track(gameId, lastSeq);
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
    this._log.game(msg.payload.gameId);
    return msg.payload;
  }

  /** join_game as a player; resolves with the game_state message. */
  async joinGame(gameId, as = 'player') {
    const g = this._log.game(gameId);
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
    this._log.game(msg.gameId);
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

  /** command {gameId, text}: a line of text for the game (docs/protocol.md). Resolves with the
   *  first message it caused: `command_answer` ({text}, for this player alone) when the game
   *  answered, else what its action caused (usually a game_event), as input() does. */
  command(gameId, text) {
    return this.send('command', { gameId, text });
  }

  /** hand_gm {gameId, seat}: the game master hands its seat to another human player. Resolves
   *  with the gm_changed event it caused. */
  handGm(gameId, seat) {
    return this.send('hand_gm', { gameId, seat });
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
