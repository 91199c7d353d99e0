// Any other game: its state as formatted JSON and its legal actions as buttons, so a new Lua game
// is playable with no new JavaScript.
import { h, setChildren, setText } from '../ui/dom.js';
import { describeAction } from '../ui/store.js';

export function createView(root, api) {
  const wrap = h('div', { class: 'generic' });
  const actions = h('div', { class: 'generic-actions', role: 'group', 'aria-label': 'Legal actions' });
  const note = h('p', { class: 'muted generic-note' });
  const pre = h('pre', { class: 'generic-state', tabindex: '0', 'aria-label': 'Game state as JSON' });
  wrap.append(h('h3', { class: 'sub' }, 'Your moves'), note, actions, h('h3', { class: 'sub' }, 'State'), pre);
  root.append(wrap);
  let lastLegal = '';
  let busy = false;

  function update(p) {
    setText(pre, JSON.stringify(p.state ?? null, null, 2));
    // The server sends legal only to a seat that may act now: the one to move, one of a list
    // to_move gave, or the game master (docs/protocol.md, game_state).
    const mine = p.status === 'active' && p.you !== undefined && (p.toMove === undefined || p.toMove === p.you || Array.isArray(p.legal));
    const legal = mine && Array.isArray(p.legal) ? p.legal : [];
    let why = '';
    if (!legal.length) {
      if (p.you === undefined) why = 'You are watching.';
      else if (p.status === 'waiting') why = 'The game has not started yet.';
      else if (p.status === 'completed') why = 'The game is over.';
      else why = mine ? 'This game lists no actions.' : 'Not your turn.';
    }
    setText(note, why);
    const key = JSON.stringify(legal);
    if (key === lastLegal) return;
    lastLegal = key;
    const hadFocus = actions.contains(document.activeElement);
    setChildren(
      actions,
      legal.map((a, i) =>
        h(
          'button',
          {
            type: 'button',
            class: 'btn',
            dataset: { action: JSON.stringify(a) },
            'aria-label': `Play ${describeAction(a)}`,
            on: {
              click: () => {
                if (busy) return;
                busy = true;
                api.send(a).finally(() => {
                  busy = false;
                });
              },
            },
          },
          describeAction(a),
        ),
      ),
    );
    if (hadFocus && actions.firstChild) actions.firstChild.focus();
  }

  return {
    update,
    focus: () => (actions.querySelector('button') || pre).focus(),
    destroy: () => wrap.remove(),
  };
}
