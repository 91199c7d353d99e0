// One WebSocket to the server at a time, kept open while wanted: reconnects with exponential
// backoff and jitter, matches answers to requests by id, and runs the heartbeat timer. It knows
// nothing of games or sign-in: the owner (MonkeytownClient) gets every parsed message and every
// drop through hooks.
import { MonkeytownError } from './auth.js';

const isOffline = () => !!globalThis.navigator && globalThis.navigator.onLine === false;

export class Connection {
  /**
   * @param {object} o
   * @param {Function} o.WebSocket  the WebSocket constructor
   * @param {{initial:number,max:number,factor:number}} o.backoff  reconnect delays, ms
   * @param {number} o.requestTimeoutMs  default timeout of request(); 0: none
   * @param {object} o.stats  the client's counters (connects is read here)
   * @param {() => string} o.url  the URL for the next socket (with the current token)
   * @param {(status: string, extra: object) => void} o.onStatus  after each status change
   * @param {(msg: object, answered: boolean) => void} o.onMessage  every parsed message
   * @param {(opened: boolean) => void} o.onDrop  a wanted socket closed (before the retry)
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.status = 'idle';
    this.want = false; // should a socket be open?
    this.attempt = 0;
    this.retryAt = 0;
    this._retryTimer = null;
    this._hbTimer = null;
    this._pending = new Map();
    this._nextId = 1;
  }

  setStatus(status, extra = {}) {
    const changed = status !== this.status;
    this.status = status;
    if (changed || extra.attempt !== undefined) this.o.onStatus(status, extra);
  }

  /** Whether a retry is scheduled (no socket now, one later). */
  get waiting() {
    return this._retryTimer !== null;
  }

  open() {
    this._clearRetry();
    const connecting = this.o.stats.connects === 0 && this.attempt === 0;
    this.setStatus(isOffline() ? 'offline' : connecting ? 'connecting' : 'reconnecting', { attempt: this.attempt });
    let ws;
    try {
      ws = new this.o.WebSocket(this.o.url());
    } catch {
      this.scheduleRetry();
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
    ws.onclose = () => {
      if (ws === this.ws) this._onClose(ws);
    };
  }

  /** Closes the socket as if the network had cut it: a wanted socket comes back by itself. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    quietClose(ws, 4000, 'dropped');
    this._onClose(ws);
  }

  /** Forgets the current socket without a reconnect, failing what waits on it. */
  detach(why) {
    const ws = this.ws;
    this.ws = null;
    this.stopHeartbeat();
    this._clearRetry();
    if (ws) quietClose(ws, 1000, why);
    this._failPending(why === 'close' ? 'CLOSED' : 'DISCONNECTED');
  }

  _onClose(ws) {
    const opened = ws._mtOpened;
    this.ws = null;
    this.stopHeartbeat();
    this._failPending('DISCONNECTED');
    this.o.onDrop(opened);
    if (!this.want) {
      this.setStatus('closed');
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (!this.want) return;
    const b = this.o.backoff;
    const base = Math.min(b.max, b.initial * Math.pow(b.factor, this.attempt));
    const delay = Math.round(base / 2 + Math.random() * (base / 2)); // "equal jitter"
    this.attempt++;
    this.retryAt = Date.now() + delay;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this.open();
    }, delay);
    this.setStatus(isOffline() ? 'offline' : 'reconnecting', { attempt: this.attempt, retryAt: this.retryAt });
  }

  retryNow() {
    this._clearRetry();
    if (!this.ws) this.open();
  }

  /** Stops wanting a socket: no retry is pending after this. */
  giveUp() {
    this.want = false;
    this._clearRetry();
  }

  _clearRetry() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  startHeartbeat(ms, fn) {
    this.stopHeartbeat();
    this._hbTimer = setInterval(fn, ms);
  }

  stopHeartbeat() {
    clearInterval(this._hbTimer);
    this._hbTimer = null;
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
    const p = msg.re !== undefined ? this._pending.get(msg.re) : undefined;
    if (p) {
      this._pending.delete(msg.re);
      clearTimeout(p.timer);
      answered = true;
      if (msg.type === 'error') p.reject(new MonkeytownError(msg.payload.code, msg.payload.message, { answer: msg }));
      else p.resolve(msg);
    }
    this.o.onMessage(msg, answered);
  }

  /** Sends {type, payload, id}; {id, promise} where the promise settles with the first message
   *  carrying re == id (rejects on an error answer, a drop, or after timeout ms; 0: never). */
  request(type, payload, { timeout = this.o.requestTimeoutMs } = {}) {
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

  /** Sends without an id (no answer expected). Returns false when no socket is open. */
  post(type, payload) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  _failPending(code) {
    const pend = [...this._pending.values()];
    this._pending.clear();
    for (const p of pend) {
      clearTimeout(p.timer);
      p.reject(new MonkeytownError(code, 'the connection dropped before the answer came'));
    }
  }
}

function quietClose(ws, code, why) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  try {
    ws.close(code, why);
  } catch {
    /* already closed */
  }
}
