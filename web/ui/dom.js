// Small DOM helpers. Text always goes in through textContent, never through HTML strings, so a
// player's name or chat line can never become markup (and nothing trips the page's CSP).

/** h('button', {class: 'x', on: {click: fn}, 'aria-label': 'Play'}, 'text', childNode, ...) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'hidden') el.hidden = !!v;
      else if (k === 'disabled') el.disabled = !!v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces all children of el. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Sets textContent only when it changed (cheap to call on every state update). */
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

/** Sets or removes an attribute only when it changed. */
export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else {
    value = value === true ? '' : String(value);
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }
}

let toastRegion = null;

/** A short message in the toast region (announced to screen readers). kind: info|error. */
export function toast(text, kind = 'info', ms = 4000) {
  if (!toastRegion) toastRegion = document.getElementById('toasts');
  if (!toastRegion) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  toastRegion.append(el);
  setTimeout(() => el.remove(), ms);
}

/** A readable message for an error thrown by the client. */
export function errorText(e) {
  if (!e) return 'Something went wrong';
  const known = {
    OFFLINE: 'Not connected to the server right now. Try again in a moment.',
    DISCONNECTED: 'The connection dropped. It will come back by itself.',
    TIMEOUT: 'The server took too long to answer.',
    NETWORK: 'Cannot reach the server.',
    RATE_LIMIT_EXCEEDED: 'Slow down a little: too many messages.',
    NOT_YOUR_TURN: "It's not your turn.",
    GAME_FULL: 'That room is full.',
    NOT_FOUND: 'That game no longer exists.',
  };
  if (e.code && known[e.code] && e.code !== 'NOT_FOUND') return known[e.code];
  return e.message || known[e.code] || String(e.code || e);
}

/** Short form of a UUID or hash for display. */
export function short(id, n = 8) {
  return id ? String(id).slice(0, n) : '';
}

/** "0:27" from milliseconds. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "14:05:09" from an epoch ms. */
export function timeOfDay(ts) {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
