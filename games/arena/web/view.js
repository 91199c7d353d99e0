// The arena: a real-time game drawn on a <canvas>. The server sends 60 states a second; the view
// keeps the last few and draws, on every animation frame, the positions interpolated between the
// two states around "now - INTERP_MS", so movement looks smooth at any frame rate.
//
// view = {w, h, t, left, players: [{seat, x, y, hp, alive, score, shield, cd: {attack, dash,
// shield}}], you?}; actions {action: "move", x, y}, {action: "attack", target: seat} (within
// 60 units), {action: "ability", kind: "dash", x, y}, {action: "ability", kind: "shield"}.
//
// Controls: click to move there; WASD or arrows to run; Space attacks the nearest enemy in reach;
// Q dashes toward the pointer; E raises the shield.
import { h, setChildren, setText } from '/ui/dom.js';

/** Loaded by the web client beside this module. */
export const stylesheet = 'view.css';

export const INTERP_MS = 100;
const REACH = 60;
const RADIUS = 16;
const COLORS = ['#4cc3ff', '#ff6f91', '#7be07f', '#ffb347', '#c792ea', '#f5d90a', '#55e0d0', '#ff9e6d'];
const KEYS = {
  w: [0, -1], arrowup: [0, -1],
  s: [0, 1], arrowdown: [0, 1],
  a: [-1, 0], arrowleft: [-1, 0],
  d: [1, 0], arrowright: [1, 0],
};

export function colorOf(seat) {
  return COLORS[(seat - 1) % COLORS.length];
}

/** Up to eight players, P1..P8, each in its own colour (the canvas uses the same). */
export function seatMark(seat) {
  return { text: `P${seat}`, color: colorOf(seat) };
}

/** Positions of every player at time `at` (performance.now() ms), interpolated between snapshots. */
export function interpolate(snaps, at) {
  if (!snaps.length) return new Map();
  let a = snaps[0];
  let b = snaps[0];
  if (at >= snaps[snaps.length - 1].at) {
    a = b = snaps[snaps.length - 1];
  } else {
    for (let i = snaps.length - 1; i >= 0; i--) {
      if (snaps[i].at <= at) {
        a = snaps[i];
        b = snaps[i + 1] || snaps[i];
        break;
      }
    }
  }
  const span = b.at - a.at;
  const k = span > 0 ? Math.max(0, Math.min(1, (at - a.at) / span)) : 1;
  const out = new Map();
  for (const pb of b.players) {
    const pa = a.players.find((p) => p.seat === pb.seat) || pb;
    out.set(pb.seat, { ...pb, x: pa.x + (pb.x - pa.x) * k, y: pa.y + (pb.y - pa.y) * k });
  }
  return out;
}

function isTyping(el) {
  return el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** "12 s" or "1.5 s" from milliseconds (the arena counts time in ms). */
function secs(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return '';
  const s = ms / 1000;
  return s >= 10 ? `${Math.ceil(s)} s` : `${Math.max(0, s).toFixed(1)} s`;
}

export function createView(root, api) {
  const canvas = h('canvas', {
    class: 'arena-canvas',
    tabindex: '0',
    'aria-label':
      'Arena. Click to move; W A S D or the arrow keys run; Space attacks the nearest enemy in reach; Q dashes toward the pointer; E raises your shield.',
  });
  const hud = h('div', { class: 'arena-hud' });
  const me = h('div', { class: 'arena-me', 'aria-live': 'off' });
  const board = h('table', { class: 'arena-scores' });
  const msg = h('p', { class: 'arena-msg muted', 'aria-live': 'polite' });
  hud.append(
    me,
    board,
    msg,
    h(
      'ul',
      { class: 'arena-help muted' },
      h('li', null, h('kbd', null, 'click'), ' move'),
      h('li', null, h('kbd', null, 'WASD'), ' / ', h('kbd', null, '← ↑ → ↓'), ' run'),
      h('li', null, h('kbd', null, 'Space'), ' attack nearest in reach'),
      h('li', null, h('kbd', null, 'Q'), ' dash to pointer'),
      h('li', null, h('kbd', null, 'E'), ' shield'),
    ),
  );
  const wrap = h('div', { class: 'arena' }, h('div', { class: 'arena-stage' }, canvas), hud);
  root.append(wrap);

  const snaps = [];
  const stats = { frames: 0, snapshots: 0, sent: 0, lastDraw: null };
  let latest = null;
  let you;
  let world = { w: 1000, h: 1000 };
  let mouse = null;
  let target = null;
  let raf = 0;
  let hudAt = 0;
  const held = new Set();
  const lastSent = new Map();
  const maxHp = new Map();

  const ctx = canvas.getContext('2d');

  function toWorld(ev) {
    const r = canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / r.width) * world.w;
    const y = ((ev.clientY - r.top) / r.height) * world.h;
    return { x: Math.round(Math.max(0, Math.min(world.w, x))), y: Math.round(Math.max(0, Math.min(world.h, y))) };
  }

  function mine() {
    if (!latest || you === undefined) return null;
    return latest.players.find((p) => p.seat === you) || null;
  }

  function act(action, key, minGap = 80) {
    if (you === undefined || !latest) return;
    const now = performance.now();
    if (now - (lastSent.get(key) || 0) < minGap) return;
    lastSent.set(key, now);
    stats.sent++;
    api.send(action).catch(() => {});
  }

  function moveTo(x, y) {
    target = { x, y };
    act({ action: 'move', x, y }, 'move', 0);
  }

  function steer() {
    const m = mine();
    if (!m) return;
    let dx = 0;
    let dy = 0;
    for (const k of held) {
      dx += KEYS[k][0];
      dy += KEYS[k][1];
    }
    if (!dx && !dy) {
      moveTo(Math.round(m.x), Math.round(m.y)); // stop where we are
      target = null;
      return;
    }
    const len = Math.hypot(dx, dy);
    dx /= len;
    dy /= len;
    // Run toward the edge of the arena along that direction.
    let t = Infinity;
    if (dx > 0) t = Math.min(t, (world.w - m.x) / dx);
    if (dx < 0) t = Math.min(t, -m.x / dx);
    if (dy > 0) t = Math.min(t, (world.h - m.y) / dy);
    if (dy < 0) t = Math.min(t, -m.y / dy);
    if (!isFinite(t)) t = 0;
    moveTo(Math.round(m.x + dx * t), Math.round(m.y + dy * t));
  }

  function attackNearest() {
    const m = mine();
    if (!m) return;
    let best = null;
    let bestD = Infinity;
    for (const p of latest.players) {
      if (p.seat === you || p.alive === false) continue;
      const d = Math.hypot(p.x - m.x, p.y - m.y);
      if (d < bestD) {
        best = p;
        bestD = d;
      }
    }
    if (!best || bestD > REACH) {
      setText(msg, best ? `Nearest enemy is ${Math.round(bestD)} away: get within ${REACH}.` : 'Nobody to attack.');
      return;
    }
    act({ action: 'attack', target: best.seat }, 'attack', 120);
  }

  function onKey(e) {
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (KEYS[k]) {
      e.preventDefault();
      if (e.type === 'keydown') {
        if (held.has(k)) return;
        held.add(k);
      } else {
        held.delete(k);
      }
      steer();
      return;
    }
    if (e.type !== 'keydown' || e.repeat) {
      if (k === ' ') e.preventDefault();
      return;
    }
    if (k === ' ') {
      e.preventDefault();
      attackNearest();
    } else if (k === 'q') {
      const m = mine();
      const aim = mouse || target || (m ? { x: m.x, y: m.y } : null);
      if (aim) act({ action: 'ability', kind: 'dash', x: Math.round(aim.x), y: Math.round(aim.y) }, 'dash', 150);
    } else if (k === 'e') {
      act({ action: 'ability', kind: 'shield' }, 'shield', 150);
    }
  }

  canvas.addEventListener('pointerdown', (e) => {
    canvas.focus();
    const p = toWorld(e);
    moveTo(p.x, p.y);
  });
  canvas.addEventListener('pointermove', (e) => {
    mouse = toWorld(e);
  });
  canvas.addEventListener('pointerleave', () => {
    mouse = null;
  });
  document.addEventListener('keydown', onKey);
  document.addEventListener('keyup', onKey);
  const onBlur = () => {
    if (held.size) {
      held.clear();
      steer();
    }
  };
  window.addEventListener('blur', onBlur);

  function resize() {
    const size = Math.max(200, Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)));
    if (canvas.width !== size || canvas.height !== size) {
      canvas.width = size;
      canvas.height = size;
    }
    return size;
  }

  function draw(now) {
    raf = requestAnimationFrame(draw);
    const size = resize();
    const sx = size / world.w;
    const sy = size / world.h;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#0e1a14';
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = 'rgba(255,255,255,0.06)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let g = 100; g < world.w; g += 100) {
      ctx.moveTo(g * sx, 0);
      ctx.lineTo(g * sx, size);
    }
    for (let g = 100; g < world.h; g += 100) {
      ctx.moveTo(0, g * sy);
      ctx.lineTo(size, g * sy);
    }
    ctx.stroke();
    ctx.strokeStyle = 'rgba(255,255,255,0.25)';
    ctx.strokeRect(0.5, 0.5, size - 1, size - 1);

    const pos = interpolate(snaps, now - INTERP_MS);
    const r = Math.max(6, RADIUS * sx);
    if (target && you !== undefined) {
      ctx.strokeStyle = 'rgba(255,255,255,0.5)';
      ctx.lineWidth = 2;
      const tx = target.x * sx;
      const ty = target.y * sy;
      ctx.beginPath();
      ctx.moveTo(tx - 6, ty - 6);
      ctx.lineTo(tx + 6, ty + 6);
      ctx.moveTo(tx + 6, ty - 6);
      ctx.lineTo(tx - 6, ty + 6);
      ctx.stroke();
    }
    for (const p of pos.values()) {
      const x = p.x * sx;
      const y = p.y * sy;
      const alive = p.alive !== false;
      const color = colorOf(p.seat);
      ctx.globalAlpha = alive ? 1 : 0.35;
      if (p.seat === you && alive) {
        ctx.setLineDash([4, 6]);
        ctx.strokeStyle = 'rgba(255,255,255,0.35)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.arc(x, y, REACH * sx, 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      if (p.shield && alive) {
        ctx.strokeStyle = '#9be7ff';
        ctx.lineWidth = 3;
        ctx.beginPath();
        ctx.arc(x, y, r + 6, 0, Math.PI * 2);
        ctx.stroke();
      }
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fill();
      if (p.seat === you) {
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 3;
        ctx.stroke();
      }
      if (!alive) {
        ctx.strokeStyle = '#111';
        ctx.lineWidth = 3;
        ctx.beginPath();
        ctx.moveTo(x - r * 0.6, y - r * 0.6);
        ctx.lineTo(x + r * 0.6, y + r * 0.6);
        ctx.moveTo(x + r * 0.6, y - r * 0.6);
        ctx.lineTo(x - r * 0.6, y + r * 0.6);
        ctx.stroke();
      }
      // hp bar
      const hp = typeof p.hp === 'number' ? p.hp : 0;
      const max = Math.max(maxHp.get(p.seat) || 100, hp);
      maxHp.set(p.seat, max);
      const bw = r * 2.4;
      ctx.fillStyle = 'rgba(0,0,0,0.6)';
      ctx.fillRect(x - bw / 2, y - r - 12, bw, 5);
      ctx.fillStyle = hp / max > 0.35 ? '#5be37d' : '#ff5b5b';
      ctx.fillRect(x - bw / 2, y - r - 12, (bw * Math.max(0, hp)) / max, 5);
      ctx.globalAlpha = 1;
      ctx.fillStyle = '#e8eef3';
      ctx.font = `${Math.max(11, Math.round(12 * (window.devicePixelRatio || 1)))}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.fillText(p.seat === you ? 'you' : `P${p.seat}`, x, y + r + 14);
    }
    if (!snaps.length) {
      ctx.fillStyle = '#9fb0bf';
      ctx.font = '16px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('Waiting for the arena…', size / 2, size / 2);
    }
    stats.frames++;
    stats.lastDraw = pos;
    if (now - hudAt > 200) {
      hudAt = now;
      drawHud();
    }
  }

  function drawHud() {
    if (!latest) return;
    const m = mine();
    const parts = [];
    if (typeof latest.left === 'number') parts.push(h('div', { class: 'arena-left' }, `Time left ${secs(latest.left)}`));
    if (m) {
      parts.push(
        h('div', { class: 'arena-stat' }, `HP ${Math.round(m.hp ?? 0)} · score ${m.score ?? 0}${m.alive === false ? ' · down' : ''}${m.shield ? ' · shielded' : ''}`),
      );
      const cd = m.cd || {};
      parts.push(
        h(
          'div',
          { class: 'arena-cds' },
          ['attack', 'dash', 'shield'].map((k) => {
            const v = cd[k];
            const ready = !(typeof v === 'number' && v > 0);
            return h('span', { class: `cd ${ready ? 'ready' : 'wait'}` }, `${k} ${ready ? 'ready' : secs(v)}`);
          }),
        ),
      );
    } else if (you === undefined) parts.push(h('div', { class: 'muted' }, 'You are watching.'));
    setChildren(me, parts);
    const rows = [...latest.players].sort((a, b) => (b.score || 0) - (a.score || 0));
    setChildren(
      board,
      h('caption', null, 'Scores'),
      rows.map((p) =>
        h(
          'tr',
          { class: p.seat === you ? 'you' : '' },
          h('td', null, h('span', { class: 'dot' }, '●'), ` P${p.seat}`),
          h('td', { class: 'name' }, p.seat === you ? 'you' : api.seatName(p.seat)),
          h('td', { class: 'num' }, String(p.score ?? 0)),
          h('td', { class: 'num' }, p.alive === false ? 'down' : `${Math.round(p.hp ?? 0)} hp`),
        ),
      ),
    );
    board.querySelectorAll('tr').forEach((tr, i) => {
      const dot = tr.querySelector('.dot');
      if (dot) dot.style.color = colorOf(rows[i].seat);
    });
  }

  function update(p) {
    const s = p.state;
    if (!s || !Array.isArray(s.players)) return;
    world = { w: s.w || 1000, h: s.h || 1000 };
    you = p.you ?? s.you;
    latest = s;
    snaps.push({ at: performance.now(), t: s.t, players: s.players });
    if (snaps.length > 12) snaps.splice(0, snaps.length - 12);
    stats.snapshots++;
  }

  raf = requestAnimationFrame(draw);

  return {
    update,
    stats,
    focus: () => canvas.focus(),
    destroy() {
      cancelAnimationFrame(raf);
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('keyup', onKey);
      window.removeEventListener('blur', onBlur);
      wrap.remove();
    },
  };
}
