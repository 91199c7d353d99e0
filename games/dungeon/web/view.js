// Distributed Dungeon in the browser: the party's sheets, the initiative order with whose turn it
// is, the log with rolls, the legal actions as buttons, a command line, and a DM panel (spawn,
// HP, override) shown only to the DM (seat 1). Every control sends a plain action ({op, ...}),
// the same tables the game's text commands make.
import { h, setText } from '/ui/dom.js';

export const stylesheet = 'view.css';

const MONSTERS = ['bandit', 'bugbear', 'giant rat', 'gnoll', 'goblin', 'hobgoblin', 'kobold',
  'ogre', 'orc', 'skeleton', 'wolf', 'zombie'];

export function seatMark(seat, p) {
  if (seat === 1) return { text: 'DM', glyph: '♛' };
  const s = p && p.state;
  const hero = s && s.party && s.party.find((x) => x.seat === seat);
  return { text: hero && hero.name ? hero.name : `Seat ${seat}` };
}

export function describeAction(a) {
  if (!a || typeof a.op !== 'string') return undefined;
  if (a.op === 'attack') return `attack ${a.target}`;
  if (a.op === 'cast') return `cast ${a.spell}${a.target ? ' at ' + a.target : ''}`;
  return a.op;
}

/** A line of the command line as an action (the common commands; /help lists them). */
function parse(text) {
  const w = text.trim().replace(/^\//, '').split(/\s+/);
  const rest = w.slice(1).join(' ');
  switch (w[0]) {
    case 'roll': return { op: 'roll', expr: rest };
    case 'check': return { op: 'check', what: w[1], mode: w[2] };
    case 'save': return { op: 'save', ability: w[1], mode: w[2] };
    case 'attack': {
      const [target, weapon] = rest.split(' with ');
      return { op: 'attack', target, weapon };
    }
    case 'cast': {
      const [spell, target] = rest.split(/ at | on /);
      return { op: 'cast', spell, target };
    }
    case 'rest': return { op: 'rest', kind: w[1] };
    case 'end': case 'dodge': case 'flee': case 'sheet': case 'wait': case 'endsession':
      return { op: w[0] };
    default: return null;
  }
}

export function createView(root, api) {
  const order = h('ol', { class: 'dd-order' });
  const party = h('div', { class: 'dd-party' });
  const monsters = h('ul', { class: 'dd-monsters' });
  const me = h('pre', { class: 'dd-me' });
  const log = h('ol', { class: 'dd-log' });
  const buttons = h('div', { class: 'dd-legal' });
  const line = h('input', { type: 'text', class: 'dd-line', placeholder: '/roll 1d20+3, /attack goblin-1, /cast fire bolt at goblin-1' });
  const form = h('form', { class: 'dd-command', on: { submit: (e) => { e.preventDefault(); command(); } } },
    line, h('button', { type: 'submit', text: 'Send' }));
  const spawnKind = h('select', {}, ...MONSTERS.map((m) => h('option', { value: m, text: m })));
  const spawnN = h('input', { type: 'number', min: '1', max: '8', value: '1' });
  const hpTarget = h('input', { type: 'text', placeholder: 'target id' });
  const hpDelta = h('input', { type: 'number', value: '-1' });
  const ovRoll = h('input', { type: 'number', placeholder: 'roll id' });
  const ovTotal = h('input', { type: 'number', placeholder: 'total' });
  const dm = h('fieldset', { class: 'dd-dm' }, h('legend', { text: 'DM' }),
    h('div', {}, spawnKind, spawnN, h('button', { type: 'button', text: 'Spawn', on: { click: () =>
      send({ op: 'spawn', monster: spawnKind.value, n: Number(spawnN.value) || 1 }) } })),
    h('div', {}, hpTarget, hpDelta, h('button', { type: 'button', text: 'HP', on: { click: () =>
      send({ op: 'hp', target: hpTarget.value.trim(), delta: Number(hpDelta.value) }) } })),
    h('div', {}, ovRoll, ovTotal, h('button', { type: 'button', text: 'Override', on: { click: () =>
      send({ op: 'override', roll: Number(ovRoll.value), total: Number(ovTotal.value) }) } })),
    h('div', {},
      h('button', { type: 'button', text: 'Start fight', on: { click: () => send({ op: 'combat', on: true }) } }),
      h('button', { type: 'button', text: 'End fight', on: { click: () => send({ op: 'combat', on: false }) } }),
      h('button', { type: 'button', text: 'End session', on: { click: () => send({ op: 'endsession' }) } })));
  root.append(h('div', { class: 'dd' },
    h('section', {}, h('h3', { text: 'Initiative' }), order, h('h3', { text: 'Party' }), party,
      h('h3', { text: 'Monsters' }), monsters),
    h('section', {}, h('h3', { text: 'Your sheet' }), me, buttons, form, dm),
    h('section', {}, h('h3', { text: 'Log' }), log)));

  function send(action) {
    for (const k of Object.keys(action)) if (action[k] === undefined || action[k] === '') delete action[k];
    return api.send(action).catch(() => {});
  }
  function command() {
    const action = parse(line.value);
    if (!action) { api.hint('Try /roll, /check, /save, /attack, /cast, /rest, /end, /sheet'); return; }
    send(action).then(() => { line.value = ''; });
  }
  function list(el, items, make) {
    el.replaceChildren(...items.map(make));
  }

  return {
    update(p) {
      const s = p.state || {};
      const seen = s.creatures ? gmView(s) : s;
      list(order, seen.order || [], (o) => h('li', { class: o.current ? 'dd-current' : '', text: `${o.name} ${o.init ?? ''}` }));
      list(party, seen.party || [], (x) => h('div', { class: 'dd-hero', text:
        x.pending ? `${x.name}: sheet loads with the first action` :
          `${x.name} (${x.class} ${x.level}) ${x.hp}/${x.hp_max} hp${x.dying ? ' dying' : ''}${x.dead ? ' dead' : ''}` +
          `${(x.conditions || []).length ? ' [' + x.conditions.join(', ') + ']' : ''}` }));
      list(monsters, seen.monsters || [], (m) => h('li', { text:
        `${m.id}: ${m.name} ${m.hp !== undefined ? m.hp + '/' + m.hp_max + ' hp' : m.health}` }));
      setText(me, s.me ? `${s.me.name}, level ${s.me.level} ${s.me.class}: ${s.me.hp}/${s.me.hp_max} hp, AC ${s.me.ac}, ${s.me.xp} XP\n` +
        `${(s.me.weapons || []).map((w) => w.name + ' ' + w.damage).join(', ')}\n${(s.me.spells || []).join(', ')}` : '');
      list(log, (s.log || []).slice().reverse(), (l) => h('li', { text: l }));
      list(buttons, p.legal || [], (a) => h('button', { type: 'button', text: describeAction(a), on: { click: () => send(a) } }));
      dm.hidden = p.you !== 1;
    },
    focus() { line.focus(); },
    destroy() { root.replaceChildren(); },
  };
}

/** The DM's view is the whole state: the same lists, from the creatures. */
function gmView(s) {
  const find = (id) => s.creatures.find((c) => c.id === id);
  return {
    order: (s.order || []).map((id, i) => ({ id, name: (find(id) || {}).name || id, init: (s.initiative || {})[id], current: i + 1 === s.turn })),
    party: s.creatures.filter((c) => c.kind === 'hero').map((c) => ({ ...c, conditions: Object.keys(c.conditions || {}) })),
    monsters: s.creatures.filter((c) => c.kind === 'monster'),
  };
}
