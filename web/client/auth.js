// The client's identity: the session token, where it is kept, what it claims, and the JSON
// requests to the server's HTTP API that carry it. No socket here (connection.js) and no DOM.

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

/** Whether a token's exp claim has passed (a token without one never expires here). */
export function tokenExpired(token) {
  const claims = decodeToken(token);
  return !!claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now();
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

/** localStorage when the page may use it, else a Map that lasts as long as the page. */
export function defaultStorage() {
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

/** The session ({token, playerId, name, guest} or null), kept in a Storage under one key.
 *  onChange(auth) is called after every set(). */
export class AuthStore {
  constructor(storage, key, onChange) {
    this.storage = storage;
    this.key = key;
    this.onChange = onChange;
    this.current = null;
  }

  /** Reads the kept session; drops it when its token has expired. */
  load() {
    try {
      const raw = this.storage.getItem(this.key);
      const a = raw ? JSON.parse(raw) : null;
      if (!a || typeof a.token !== 'string') return null;
      if (tokenExpired(a.token)) {
        this.storage.removeItem(this.key);
        return null;
      }
      this.current = a;
      return a;
    } catch {
      return null;
    }
  }

  /** Replaces the session (null forgets it), filling playerId and name from the token's claims
   *  when the caller did not give them; persist false keeps it out of the storage. */
  set(a, persist = true) {
    if (a && a.token) {
      const c = decodeToken(a.token) || {};
      a = { playerId: c.sub, name: c.name, ...a };
    }
    this.current = a && a.token ? a : null;
    if (persist) {
      try {
        if (this.current) this.storage.setItem(this.key, JSON.stringify(this.current));
        else this.storage.removeItem(this.key);
      } catch {
        /* storage full or blocked: the session lasts as long as the page */
      }
    }
    this.onChange(this.current);
  }

  get token() {
    return this.current ? this.current.token : null;
  }
}

/** A JSON request: resolves with the parsed body; rejects with a MonkeytownError (code from the
 *  body's error, plus `status`; status 0 when the server could not be reached). */
export async function httpJson(fetchFn, url, method, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetchFn(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
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
    throw new MonkeytownError(err.code || `HTTP_${res.status}`, err.message || `HTTP ${res.status}`, { status: res.status });
  }
  if (data === null) throw new MonkeytownError('BAD_RESPONSE', 'the server sent no JSON', { status: res.status });
  return data;
}
