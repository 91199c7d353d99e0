// Connect Four board: seven column buttons, each holding its six slots (row 6 at the top, row 1
// at the bottom). state = {board[42] index (row-1)*7+col, heights[7], turn, moves,
// last?{column,row,seat}, winner?, line?[{column,row}], draw?, marks}; action {column: 1..7}.
import { h, setAttr } from '/ui/dom.js';
import { rovingGrid } from '/views/grid.js';

/** Loaded by the web client beside this module (it also colours the players list and the log). */
export const stylesheet = 'view.css';

/** Red and Yellow (or what state.marks says), shown as a disc. */
export function seatMark(seat, p) {
  const marks = (p && p.state && p.state.marks) || ['Red', 'Yellow'];
  return { text: marks[seat - 1] || `Seat ${seat}` };
}

/** {column: 4} is "column 4"; a move event with its row, "column 4 (row 2)". */
export function describeAction(a) {
  if (!a || typeof a.column !== 'number') return undefined;
  return `column ${a.column}${a.row ? ` (row ${a.row})` : ''}`;
}

const COLS = 7;
const ROWS = 6;

export function createView(root, api) {
  const board = h('div', { class: 'c4', role: 'group', 'aria-label': 'Connect Four board, 7 columns by 6 rows' });
  const columns = [];
  const slots = []; // slots[col][row], both 1-based
  for (let c = 1; c <= COLS; c++) {
    const col = h('button', { type: 'button', class: 'c4-col', dataset: { column: c }, on: { click: () => play(c) } });
    slots[c] = [];
    for (let r = ROWS; r >= 1; r--) {
      const slot = h('span', { class: 'c4-slot', dataset: { row: r } });
      slots[c][r] = slot;
      col.append(slot);
    }
    col.append(h('span', { class: 'c4-num', 'aria-hidden': 'true' }, String(c)));
    columns.push(col);
    board.append(col);
  }
  root.append(board);
  const nav = rovingGrid(board, columns, COLS);
  let legal = new Set();
  let busy = false;

  function play(c) {
    if (busy) return;
    if (!legal.has(c)) {
      api.hint(legal.size ? `Column ${c} is full.` : api.whyNot());
      return;
    }
    busy = true;
    api.send({ column: c }).finally(() => {
      busy = false;
    });
  }

  function update(p) {
    const s = p.state || {};
    const b = Array.isArray(s.board) ? s.board : [];
    const marks = s.marks || ['Red', 'Yellow'];
    const mine = p.status === 'active' && p.you !== undefined && p.toMove === p.you;
    legal = new Set(mine && Array.isArray(p.legal) ? p.legal.map((a) => a.column) : []);
    const win = new Set((Array.isArray(s.line) ? s.line : []).map((x) => `${x.column},${x.row}`));
    const last = s.last || null;
    for (let c = 1; c <= COLS; c++) {
      let count = 0;
      for (let r = 1; r <= ROWS; r++) {
        const v = b[(r - 1) * COLS + (c - 1)] || 0;
        if (v) count++;
        const el = slots[c][r];
        el.classList.toggle('p1', v === 1);
        el.classList.toggle('p2', v === 2);
        el.classList.toggle('last', !!last && last.column === c && last.row === r);
        el.classList.toggle('win', win.has(`${c},${r}`));
      }
      const col = columns[c - 1];
      col.classList.toggle('legal', legal.has(c));
      col.classList.toggle('full', count >= ROWS);
      let label = `Column ${c}: ${count} disc${count === 1 ? '' : 's'}`;
      if (count >= ROWS) label += ', full';
      else if (legal.has(c)) label += ', press to drop a disc';
      if (last && last.column === c) label += `, last move ${marks[last.seat - 1] || ''} at row ${last.row}`;
      setAttr(col, 'aria-label', label);
      setAttr(col, 'aria-disabled', legal.has(c) ? null : 'true');
    }
    board.classList.toggle('my-turn', mine);
    board.classList.toggle('you-p2', p.you === 2);
  }

  return {
    update,
    focus: () => nav.focus(),
    destroy: () => board.remove(),
  };
}
