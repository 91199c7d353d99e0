// Distributed Dungeon in the browser: the party's sheets, the initiative order with whose turn it
// is, the log with rolls, the legal actions as buttons, and a DM panel (spawn, HP, override)
// shown only to the DM (seat 1). Every control sends a plain action ({op, ...}), the same tables
// the game's text commands make; the text commands themselves go through the game screen's own
// command line (the game has `command`), whose answers land in the page's log.
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

export function createView(root, api) {
  const order = h('ol', { class: 'dd-order' });
  const party = h('div', { class: 'dd-party' });
  const monsters = h('ul', { class: 'dd-monsters' });
  const me = h('pre', { class: 'dd-me' });
  const log = h('ol', { class: 'dd-log' });
  const buttons = h('div', { class: 'dd-legal' });
  const turn = h('p', { class: 'dd-turn', 'data-testid': 'dd-turn' });
  const spawnKind = h('select', {}, ...MONSTERS.map((m) => h('option', { value: m, text: m })));
  const spawnN = h('input', { type: 'number', min: '1', max: '8', value: '1' });
  const hpTarget = h('input', { type: 'text', placeholder: 'target id' });
  const hpDelta = h('input', { type: 'number', value: '-1' });
  const ovRoll = h('input', { type: 'number', placeholder: 'roll id' });
  const ovTotal = h('input', { type: 'number', placeholder: 'total' });
  const dm = h('fieldset', { class: 'dd-dm', 'data-testid': 'dd-dm', hidden: true }, h('legend', { text: 'DM' }),
    h('div', {}, spawnKind, spawnN, h('button', { type: 'button', class: 'dd-spawn', text: 'Spawn', on: { click: () =>
      send({ op: 'spawn', monster: spawnKind.value, n: Number(spawnN.value) || 1 }) } })),
    h('div', {}, hpTarget, hpDelta, h('button', { type: 'button', text: 'HP', on: { click: () =>
      send({ op: 'hp', target: hpTarget.value.trim(), delta: Number(hpDelta.value) }) } })),
    h('div', {}, ovRoll, ovTotal, h('button', { type: 'button', text: 'Override', on: { click: () =>
      send({ op: 'override', roll: Number(ovRoll.value), total: Number(ovTotal.value) }) } })),
    h('div', {},
      h('button', { type: 'button', class: 'dd-fight', text: 'Start fight', on: { click: () => send({ op: 'combat', on: true }) } }),
      h('button', { type: 'button', text: 'End fight', on: { click: () => send({ op: 'combat', on: false }) } }),
      h('button', { type: 'button', text: 'End session', on: { click: () => send({ op: 'endsession' }) } })));
  root.append(h('div', { class: 'dd' },
    h('section', {}, h('h3', { text: 'Initiative' }), turn, order, h('h3', { text: 'Party' }), party,
      h('h3', { text: 'Monsters' }), monsters),
    h('section', {}, h('h3', { text: 'Your sheet' }), me, buttons, dm),
    h('section', {}, h('h3', { text: 'Log' }), log)));

  function send(action) {
    for (const k of Object.keys(action)) if (action[k] === undefined || action[k] === '') delete action[k];
    return api.send(action).catch(() => {});
  }
  function list(el, items, make) {
    el.replaceChildren(...arr(items).map(make));
  }

  return {
    update(p) {
      const s = p.state || {};
      const seen = s.creatures ? gmView(s) : s;
      list(order, seen.order, (o) => h('li', { class: o.current ? 'dd-current' : '', dataset: { id: o.id }, text: `${o.name} ${o.init ?? ''}` }));
      const cur = arr(seen.order).find((o) => o.current);
      setText(turn, s.over ? 'The session is over.' : s.phase !== 'combat' ? 'Exploring: anyone may act.' :
        `Round ${s.round}: ${cur ? cur.name : '?'}'s turn${p.toMove === p.you && p.you !== undefined ? ' (yours)' : ''}.`);
      list(party, seen.party, (x) => h('div', { class: 'dd-hero', text:
        x.pending ? `${x.name}: sheet loads with the first action` :
          `${x.name} (${x.class} ${x.level}) ${x.hp}/${x.hp_max} hp${x.dying ? ' dying' : ''}${x.dead ? ' dead' : ''}` +
          `${arr(x.conditions).length ? ' [' + x.conditions.join(', ') + ']' : ''}` }));
      list(monsters, seen.monsters, (m) => h('li', { dataset: { id: m.id }, text:
        `${m.id}: ${m.name} ${m.hp !== undefined ? m.hp + '/' + m.hp_max + ' hp' : m.health}` }));
      setText(me, s.me ? `${s.me.name}, level ${s.me.level} ${s.me.class}: ${s.me.hp}/${s.me.hp_max} hp, AC ${s.me.ac}, ${s.me.xp} XP\n` +
        `${arr(s.me.weapons).map((w) => w.name + ' ' + w.damage).join(', ')}\n${arr(s.me.spells).join(', ')}` : '');
      list(log, arr(s.log).slice().reverse(), (l) => h('li', { text: l }));
      list(buttons, p.legal, (a) => h('button', { type: 'button', text: describeAction(a), on: { click: () => send(a) } }));
      dm.hidden = p.you !== (p.gameMaster ?? 1); // the game master's seat, wherever it was handed
    },
    focus() { (buttons.querySelector('button') || root).focus(); },
    destroy() { root.replaceChildren(); },
  };
}

/** A list from the state: an empty Lua table arrives as {} (JSON has no empty-table kind). */
function arr(v) {
  return Array.isArray(v) ? v : [];
}

/** The DM's view is the whole state: the same lists, from the creatures. */
function gmView(s) {
  const creatures = arr(s.creatures);
  const find = (id) => creatures.find((c) => c.id === id);
  return {
    order: arr(s.order).map((id, i) => ({ id, name: (find(id) || {}).name || id, init: (s.initiative || {})[id], current: i + 1 === s.turn })),
    party: creatures.filter((c) => c.kind === 'hero').map((c) => ({ ...c, conditions: Object.keys(c.conditions || {}) })),
    monsters: creatures.filter((c) => c.kind === 'monster'),
  };
}
