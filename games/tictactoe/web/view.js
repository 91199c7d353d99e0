// Tic-tac-toe board: nine buttons. state = {board[9] 0/1/2, turn, moves, last?, winner?, line?,
// draw?, marks}; action {cell: 1..9}.
import { h, setAttr, setText } from '/ui/dom.js';
import { rovingGrid } from '/views/grid.js';

/** Loaded by the web client beside this module. */
export const stylesheet = 'view.css';

/** The seat's mark ("X", "O", or what state.marks says), drawn as itself in the players list. */
export function seatMark(seat, p) {
  const marks = (p && p.state && p.state.marks) || ['X', 'O'];
  const text = marks[seat - 1] || `Seat ${seat}`;
  return { text, glyph: text };
}

/** {cell: 5} is "cell 5". */
export function describeAction(a) {
  return a && typeof a.cell === 'number' ? `cell ${a.cell}` : undefined;
}

export function createView(root, api) {
  const board = h('div', { class: 'ttt', role: 'group', 'aria-label': 'Tic-tac-toe board, 3 by 3' });
  const cells = [];
  for (let i = 1; i <= 9; i++) {
    const b = h('button', {
      type: 'button',
      class: 'ttt-cell',
      dataset: { cell: i },
      on: { click: () => play(i) },
    });
    cells.push(b);
    board.append(b);
  }
  root.append(board);
  const nav = rovingGrid(board, cells, 3);
  let legal = new Set();
  let busy = false;

  function play(cell) {
    if (busy) return;
    if (!legal.has(cell)) {
      api.hint(legal.size ? `Cell ${cell} is taken.` : api.whyNot());
      return;
    }
    busy = true;
    api.send({ cell }).finally(() => {
      busy = false;
    });
  }

  function update(p) {
    const s = p.state || {};
    const b = Array.isArray(s.board) ? s.board : [];
    const marks = s.marks || ['X', 'O'];
    const mine = p.status === 'active' && p.you !== undefined && p.toMove === p.you;
    legal = new Set(mine && Array.isArray(p.legal) ? p.legal.map((a) => a.cell) : []);
    const line = new Set(Array.isArray(s.line) ? s.line : []);
    cells.forEach((el, idx) => {
      const cell = idx + 1;
      const v = b[idx] || 0;
      setText(el, v ? marks[v - 1] || String(v) : '');
      el.classList.toggle('p1', v === 1);
      el.classList.toggle('p2', v === 2);
      el.classList.toggle('legal', legal.has(cell));
      el.classList.toggle('last', s.last === cell);
      el.classList.toggle('win', line.has(cell));
      const row = Math.floor(idx / 3) + 1;
      const col = (idx % 3) + 1;
      let label = `Cell ${cell}, row ${row}, column ${col}: `;
      label += v ? `${marks[v - 1] || 'taken'}` : legal.has(cell) ? 'empty, press to play here' : 'empty';
      if (s.last === cell) label += ' (last move)';
      if (line.has(cell)) label += ' (winning line)';
      setAttr(el, 'aria-label', label);
      setAttr(el, 'aria-disabled', legal.has(cell) ? null : 'true');
    });
    board.classList.toggle('my-turn', mine);
  }

  return {
    update,
    focus: () => nav.focus(),
    destroy: () => board.remove(),
  };
}
