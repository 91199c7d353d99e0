// One game as the UI knows it: the latest game_state, the log (moves with the agent's reasoning
// beside them, joins, leaves, timeouts, the result) and the chat. Fed with every message of that
// game the client delivers; views subscribe and redraw what changed.

/** "take 2" or "x 120, y 40": an action or event by its fields (a game's view module may say it
 *  better, see GameStore.describe). */
export function describeAction(a) {
  if (a === null || a === undefined) return '—';
  if (typeof a !== 'object') return String(a);
  const keys = Object.keys(a).filter((k) => k !== 'kind' && k !== 'seat');
  if (!keys.length) return a.kind || 'action';
  return keys
    .map((k) => {
      const v = a[k];
      return `${k} ${v !== null && typeof v === 'object' ? JSON.stringify(v) : v}`;
    })
    .join(', ');
}

export class GameStore {
  constructor(gameId) {
    this.gameId = gameId;
    this.state = null; // the latest game_state payload
    this.stateSeq = 0;
    this.entries = []; // log entries in seq order
    this.chat = []; // {seq, from, text, ts}
    this.result = null;
    this.gone = null; // set when the server no longer knows the game
    this.resynced = false; // part of the history could not be replayed
    this.origin = null; // how the game was started, for rematch
    this.names = new Map(); // seat -> {name, kind, playerId}
    this.view = null; // the game's view module once loaded (ui/views.js): seatMark, describeAction
    this._listeners = new Set();
    this._seen = new Set(); // seqs shown (defence in depth: the client already de-duplicates)
    this.stateCount = 0;
  }

  subscribe(fn) {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  _notify(what) {
    for (const fn of [...this._listeners]) fn(what, this);
  }

  get you() {
    return this.state ? this.state.you : undefined;
  }

  get game() {
    return this.state ? this.state.game : undefined;
  }

  /** How a seat is shown: {text ("X", "Red", "P3"), glyph (in the players list), color?}, from
   *  the view's seatMark, else from state.marks, else "Seat n" with a dot. */
  seatMark(seat) {
    const own = this.view && this.view.seatMark ? this.view.seatMark(seat, this.state) : null;
    const marks = this.state && this.state.state && this.state.state.marks;
    const text = (own && own.text) || (Array.isArray(marks) && marks[seat - 1]) || `Seat ${seat}`;
    return { text, glyph: (own && own.glyph) || '●', color: (own && own.color) || null };
  }

  /** The mark or colour a seat plays with ("X", "Red"), else "Seat n". */
  seatLabel(seat) {
    return this.seatMark(seat).text;
  }

  /** An action or event in words: the view's describeAction when it has one for it. */
  describe(a) {
    const own = this.view && this.view.describeAction && a && typeof a === 'object' ? this.view.describeAction(a) : undefined;
    return typeof own === 'string' ? own : describeAction(a);
  }

  /** The name at a seat, with its seat label when another seat has the same name (three agents
   *  of one kind, say). */
  displayName(seat) {
    const name = this.seatName(seat);
    const players = (this.state && this.state.players) || [];
    const twin = players.some((p) => p.seat !== seat && p.name === name);
    return twin ? `${name} (${this.seatLabel(seat)})` : name;
  }

  /** The name at a seat ("You" for the viewer's own seat when short is false). */
  seatName(seat) {
    const p = this.state && this.state.players && this.state.players.find((x) => x.seat === seat);
    if (p) return p.name;
    const n = this.names.get(seat);
    return n ? n.name : `Seat ${seat}`;
  }

  seatKind(seat) {
    const p = this.state && this.state.players && this.state.players.find((x) => x.seat === seat);
    return p ? p.kind : this.names.get(seat)?.kind;
  }

  /** The agent's script name at some seat, for rematches ("agent:<name>" player ids). */
  agentName() {
    const players = (this.state && this.state.players) || [];
    const a = players.find((p) => p.kind === 'agent' && p.seat !== this.you);
    return a && typeof a.playerId === 'string' && a.playerId.startsWith('agent:') ? a.playerId.slice(6) : null;
  }

  onMessage(msg) {
    const p = msg.payload || {};
    if (msg.type === 'game_state') {
      this.state = p;
      this.stateSeq = msg.seq;
      this.stateCount++;
      for (const pl of p.players || []) this.names.set(pl.seat, pl);
      if (p.result) this.result = p.result;
      this._notify('state');
      return;
    }
    if (typeof msg.seq === 'number') {
      if (this._seen.has(msg.seq)) return;
      this._seen.add(msg.seq);
    }
    switch (msg.type) {
      case 'chat_message':
        this.chat.push({ seq: msg.seq, from: p.from || {}, text: String(p.text ?? ''), ts: p.ts, replayed: !!msg.replayed });
        this._notify('chat');
        return;
      case 'player_joined':
        this.names.set(p.seat, p);
        this._add({ seq: msg.seq, kind: 'join', seat: p.seat, name: p.name, playerKind: p.kind });
        return;
      case 'player_left':
        this._add({ seq: msg.seq, kind: 'leave', seat: p.seat, name: p.name });
        return;
      case 'game_over':
        this.result = p.result || {};
        this._add({ seq: msg.seq, kind: 'over', result: this.result });
        return;
      case 'game_event':
        this._onEvent(msg.seq, p.event || {});
        return;
      case 'gm_changed':
        this._add({ seq: msg.seq, kind: 'gm', from: p.from, to: p.to });
        return;
      default:
    }
  }

  _onEvent(seq, ev) {
    if (ev.kind === 'agent_reasoning') {
      this._add({ seq, kind: 'reasoning', seat: ev.seat, text: String(ev.text ?? '') });
      return;
    }
    if (ev.kind === 'move') {
      const entry = { seq, kind: 'move', seat: ev.seat, event: ev, rev: 0 };
      // The reasoning an agent gave just before this move goes beside the move.
      const prev = this.entries[this.entries.length - 1];
      if (prev && prev.kind === 'reasoning' && prev.seat === ev.seat && !prev.attached) {
        prev.attached = true;
        entry.reasoning = prev;
        this.entries.pop();
      }
      this._add(entry);
      return;
    }
    if (ev.kind === 'timeout') {
      this._add({ seq, kind: 'timeout', seat: ev.seat });
      return;
    }
    this._add({ seq, kind: ev.kind === 'hidden' ? 'hidden' : 'event', seat: ev.seat, event: ev });
  }

  _add(entry) {
    this.entries.push(entry);
    if (this.entries.length > 500) this.entries.splice(0, this.entries.length - 500);
    this._notify('log');
  }

  /** The game's text answer to this player's command (command_answer): shown in the log, after
   *  the latest event (it has no seq of its own, so it takes the latest one's for ordering). */
  addAnswer(command, text) {
    const last = this.entries[this.entries.length - 1];
    this._add({ seq: last ? last.seq : this.stateSeq, kind: 'answer', command: String(command), text: String(text ?? '') });
  }

  /** The latest reasoning any agent gave (for the bubble by the board). */
  latestReasoning() {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.kind === 'reasoning') return e;
      if (e.kind === 'move' && e.reasoning) return e.reasoning;
    }
    return null;
  }

  markGone(error) {
    this.gone = error || true;
    this._notify('gone');
  }

  /** Forgets the log from seq on: the server restarted without them and sends them again. */
  rewind(from) {
    this.entries = this.entries.filter((e) => e.seq < from);
    this.chat = this.chat.filter((c) => c.seq < from);
    for (const seq of [...this._seen]) if (seq >= from) this._seen.delete(seq);
    if (this.result && !this.entries.some((e) => e.kind === 'over')) this.result = null;
    this._notify('log');
  }

  markResynced() {
    this.resynced = true;
    this._notify('log');
  }
}
