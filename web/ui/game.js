// The game screen: the board (the game folder's own view, or the generic one: ui/views.js), the
// players and who is to move, the turn clock, the result and rematch, the log of moves with each
// agent's reasoning beside its move, the chat, and the rules when the game ships them. A game
// that takes text commands gets a command line under its log (the answers go in the log); the
// game master of a game that has one may hand the seat to another player.
import { clock, errorText, h, setAttr, setChildren, setText, short, timeOfDay, toast } from './dom.js';
import { rulesPanel } from './rules.js';
import { loadView } from './views.js';

export class GameScreen {
  constructor(app, store) {
    this.app = app;
    this.client = app.client;
    this.store = store;
    this.view = null;
    this.viewGame = null;
    this.renderedEntries = new Map(); // entry -> li
    this.renderedChat = 0;
    this.playersKey = '';
    this.leaveArmed = false;
    this.focusedOnce = false;
    this.build();
    this.unsub = store.subscribe((what) => this.onChange(what));
    this.timer = setInterval(() => this.tick(), 250);
    this.onChange('all');
  }

  build() {
    const s = this.store;
    this.title = h('h2', { class: 'game-title', id: 'game-title' }, 'Loading game…');
    this.meta = h('p', { class: 'game-meta muted' }, `room ${short(s.gameId)}`);
    this.turnLine = h('p', { class: 'turn-line', 'aria-live': 'polite', 'data-testid': 'turn-line' });
    this.timerText = h('span', { class: 'timer-text' });
    this.timerBar = h('span', { class: 'timer-bar' });
    this.timerEl = h('div', { class: 'timer', role: 'timer', hidden: true }, h('span', { class: 'timer-track' }, this.timerBar), this.timerText);
    this.hintEl = h('p', { class: 'hint muted', 'aria-live': 'polite' });
    this.boardHost = h('div', { class: 'board-host' });
    this.reasonBubble = h('div', { class: 'reason-bubble', hidden: true, 'data-testid': 'reason-bubble' });
    this.resultText = h('strong', { class: 'result-text' });
    this.resultWhy = h('span', { class: 'result-why muted' });
    this.rematchBtn = h('button', { type: 'button', class: 'btn primary', on: { click: () => this.rematch() } }, 'Rematch');
    this.resultEl = h(
      'div',
      { class: 'result', hidden: true, role: 'status', 'data-testid': 'result' },
      h('div', null, this.resultText, ' ', this.resultWhy),
      h('div', { class: 'row' }, this.rematchBtn, h('a', { class: 'btn', href: '#/' }, 'Back to lobby')),
    );
    this.leaveBtn = h('button', { type: 'button', class: 'btn subtle', on: { click: () => this.leave() } }, 'Leave');
    this.seatBtn = h('button', { type: 'button', class: 'btn primary', hidden: true, on: { click: () => this.takeSeat() } }, 'Take a seat');
    this.shareEl = h('p', { class: 'share muted', hidden: true });

    this.playersEl = h('ul', { class: 'players', 'data-testid': 'players' });
    this.logEl = h('ol', { class: 'log', 'data-testid': 'log', 'aria-live': 'polite' });
    this.logNote = h('p', { class: 'muted small', hidden: true }, 'Some earlier events could not be replayed.');
    this.chatList = h('ol', { class: 'chat-list', 'data-testid': 'chat', 'aria-live': 'polite' });
    this.chatInput = h('input', {
      type: 'text',
      class: 'chat-input',
      maxlength: '500',
      placeholder: 'Say something…',
      'aria-label': 'Chat message',
      autocomplete: 'off',
    });
    this.commandInput = h('input', {
      type: 'text',
      class: 'command-input',
      maxlength: '500',
      placeholder: 'A command, e.g. /help',
      'aria-label': 'Command for the game',
      autocomplete: 'off',
      'data-testid': 'command-input',
    });
    this.commandForm = h(
      'form',
      { class: 'command-form', hidden: true, on: { submit: (e) => this.sendCommand(e) } },
      this.commandInput,
      h('button', { type: 'submit', class: 'btn' }, 'Run'),
    );
    this.gmSelect = h('select', { class: 'gm-select', 'aria-label': 'Player to make game master', 'data-testid': 'gm-select' });
    this.gmForm = h(
      'form',
      { class: 'gm-form', hidden: true, 'data-testid': 'gm-handover', on: { submit: (e) => this.handGm(e) } },
      h('span', { class: 'muted small' }, 'Hand over game master to'),
      this.gmSelect,
      h('button', { type: 'submit', class: 'btn' }, 'Hand over'),
    );
    this.chatForm = h(
      'form',
      { class: 'chat-form', on: { submit: (e) => this.sendChat(e) } },
      this.chatInput,
      h('button', { type: 'submit', class: 'btn' }, 'Send'),
    );

    this.el = h(
      'div',
      { class: 'game-screen', 'data-game-id': this.store.gameId },
      h(
        'div',
        { class: 'game-main' },
        h(
          'div',
          { class: 'game-head' },
          h('div', { class: 'game-head-text' }, this.title, this.meta),
          h('div', { class: 'game-head-actions' }, this.seatBtn, this.leaveBtn),
        ),
        (this.turnRow = h('div', { class: 'turn-row' }, this.turnLine, this.timerEl)),
        this.shareEl,
        this.resultEl,
        this.boardHost,
        this.hintEl,
        this.reasonBubble,
      ),
      (this.sideEl = h(
        'aside',
        { class: 'game-side' },
        h('section', { class: 'panel', 'aria-labelledby': 'players-h' }, h('h3', { id: 'players-h' }, 'Players'), this.playersEl, this.gmForm),
        h('section', { class: 'panel log-panel', 'aria-labelledby': 'log-h' }, h('h3', { id: 'log-h' }, 'Moves'), this.logNote, this.logEl, this.commandForm),
        h('section', { class: 'panel chat-panel', 'aria-labelledby': 'chat-h' }, h('h3', { id: 'chat-h' }, 'Chat'), this.chatList, this.chatForm),
      )),
    );
  }

  /** The API board views get. */
  viewApi() {
    return {
      send: (action) => this.sendAction(action),
      hint: (text) => this.hint(text),
      whyNot: () => this.whyNot(),
      seatName: (seat) => this.store.seatName(seat),
    };
  }

  /** Loads the game's view (once the first game_state names the game) and mounts it. */
  ensureView() {
    const p = this.store.state;
    if (!p || this.viewGame === p.game) return;
    const game = (this.viewGame = p.game);
    const info = this.app.catalog.get(game);
    setText(this.title, info ? info.title : game);
    this.sideEl.append(rulesPanel(game, 'panel'));
    loadView(game).then(({ mod, own }) => {
      if (this.destroyed || this.viewGame !== game) return;
      if (this.view) this.view.destroy();
      this.store.view = mod;
      this.view = mod.createView(this.boardHost, this.viewApi());
      this.boardHost.dataset.view = own ? game : 'generic';
      this.el.classList.add(`game-${own ? game : 'generic'}`);
      this.labelsKey = null; // marks and move texts may read differently now
      this.playersKey = '';
      this.renderState();
    });
  }

  onChange(what) {
    const s = this.store;
    if (what === 'state' || what === 'all') this.renderState();
    if (what === 'log' || what === 'all') this.renderLog();
    if (what === 'chat' || what === 'all') this.renderChat();
    if (s.gone) {
      setText(this.turnLine, s.state ? 'This room has closed on the server.' : 'This game does not exist (any more).');
      this.turnRow.hidden = false;
      this.timerEl.hidden = true;
      if (!s.state) setText(this.title, 'Game not found');
      setText(this.leaveBtn, 'Back to lobby');
    }
  }

  renderState() {
    const p = this.store.state;
    if (!p) return;
    this.ensureView();
    // Entries drawn before the marks and names were known (a replay comes before its
    // game_state) are drawn again with them.
    const labels = JSON.stringify([p.state && p.state.marks, (p.players || []).map((x) => [x.seat, x.name])]);
    if (labels !== this.labelsKey) {
      this.labelsKey = labels;
      for (const li of this.renderedEntries.values()) li.remove();
      this.renderedEntries.clear();
      this.renderLog();
    }
    if (this.view) this.view.update(p);
    const info = this.app.catalog.get(p.game);
    setText(
      this.meta,
      `room ${short(this.store.gameId)}${info ? ` · v ${short(info.version)}` : ''}${p.you ? ` · you are ${this.store.seatLabel(p.you)}` : ' · watching'}`,
    );
    this.renderPlayers(p);
    this.renderControls(p);
    this.renderTurn(p);
    this.renderResult(p);
    const seated = p.you !== undefined;
    this.seatBtn.hidden = !(p.status === 'waiting' && !seated && (p.players || []).length < this.seatCount(p));
    setText(this.leaveBtn, !seated ? 'Stop watching' : p.status === 'active' && !this.realtime() ? 'Resign' : 'Leave');
    if (p.status === 'waiting') {
      this.shareEl.hidden = false;
      setText(this.shareEl, `Waiting for players. Others can join from the lobby, or with this link: ${location.origin}/#/game/${this.store.gameId}`);
    } else this.shareEl.hidden = true;
    this.maybeFocus();
  }

  /** Gives the board the focus once, when the game starts with me seated, unless the focus is
   *  already somewhere in this screen (the chat box, say). */
  maybeFocus() {
    const p = this.store.state;
    if (this.focusedOnce || !this.view || !p || p.you === undefined || p.status !== 'active') return;
    if (this.app.screen !== this || !this.el.isConnected) return;
    this.focusedOnce = true;
    const ae = document.activeElement;
    if (!ae || ae === document.body || !this.el.contains(ae)) this.view.focus();
  }

  /** Whether the game is real-time (its catalog entry has a tick rate). */
  realtime() {
    const info = this.app.catalog.get(this.store.game);
    return !!(info && info.tickRate > 0);
  }

  seatCount(p) {
    const info = this.app.catalog.get(p.game);
    return info && info.players ? info.players.max : 2;
  }

  renderPlayers(p) {
    const players = [...(p.players || [])].sort((a, b) => a.seat - b.seat);
    const key = JSON.stringify([players, p.toMove, p.you, p.status, p.gameMaster]);
    if (key === this.playersKey) return;
    this.playersKey = key;
    setChildren(
      this.playersEl,
      players.map((pl) => {
        const label = this.store.seatLabel(pl.seat);
        const toMove = p.status === 'active' && p.toMove === pl.seat;
        const li = h(
          'li',
          { class: `player seat-${pl.seat}${toMove ? ' to-move' : ''}${pl.seat === p.you ? ' me' : ''}`, dataset: { seat: pl.seat } },
          markEl(this.store.seatMark(pl.seat), pl.seat),
          h(
            'span',
            { class: 'player-name' },
            pl.name,
            pl.seat === p.you ? h('span', { class: 'tag' }, 'you') : null,
            pl.kind === 'agent' ? h('span', { class: 'tag agent' }, 'agent') : null,
            pl.seat === p.gameMaster ? h('span', { class: 'tag gm', 'data-testid': 'gm-tag' }, 'game master') : null,
          ),
          h('span', { class: 'player-seat muted' }, this.store.seatMark(pl.seat).glyph === label ? '' : label),
          h('span', { class: `conn-dot ${pl.connected ? 'on' : 'off'}`, title: pl.connected ? 'connected' : 'disconnected' }, pl.connected ? '' : 'away'),
          toMove ? h('span', { class: 'to-move-tag' }, 'to move') : null,
        );
        return li;
      }),
    );
  }

  /** The command line (a seated player, a running game that takes commands) and the game
   *  master's handover form (the game master, with other human players to hand to). */
  renderControls(p) {
    const info = this.app.catalog.get(p.game);
    const playing = p.you !== undefined && p.status === 'active';
    this.commandForm.hidden = !(playing && info && info.commands);
    const others = playing && p.gameMaster === p.you && !this.realtime() ? (p.players || []).filter((x) => x.kind === 'human' && x.seat !== p.you) : [];
    this.gmForm.hidden = others.length === 0;
    const key = JSON.stringify(others.map((x) => [x.seat, x.name]));
    if (key === this.gmKey) return;
    this.gmKey = key;
    setChildren(
      this.gmSelect,
      others.map((x) => h('option', { value: String(x.seat) }, `${this.store.displayName(x.seat)} (${this.store.seatLabel(x.seat)})`)),
    );
  }

  renderTurn(p) {
    let text = '';
    const you = p.you;
    if (p.status === 'waiting') {
      const n = (p.players || []).length;
      text = `Waiting for players (${n}/${this.seatCount(p)})…`;
    } else if (p.status === 'completed') {
      text = ''; // the result banner says it
    } else if (p.toMove === undefined) {
      text = you !== undefined ? 'Live round: you are in.' : 'Live round.';
    } else if (p.toMove === you) {
      text = 'Your turn.';
    } else {
      const name = this.store.displayName(p.toMove);
      text = this.store.seatKind(p.toMove) === 'agent' ? `${name} is thinking…` : `${name}'s turn (${this.store.seatLabel(p.toMove)}).`;
    }
    setText(this.turnLine, text);
    this.turnRow.hidden = !text;
    this.turnLine.classList.toggle('yours', p.status === 'active' && p.toMove !== undefined && p.toMove === you);
    this.tick();
  }

  tick() {
    const p = this.store.state;
    if (!p || p.status !== 'active' || typeof p.deadline !== 'number') {
      this.timerEl.hidden = true;
      return;
    }
    const left = p.deadline - this.client.serverNow();
    const total = (this.app.catalog.get(p.game) || {}).turnTimeMs || 30000;
    this.timerEl.hidden = false;
    setText(this.timerText, clock(left));
    this.timerBar.style.width = `${Math.max(0, Math.min(100, (left / total) * 100))}%`;
    this.timerEl.classList.toggle('low', left < 10000);
    setAttr(this.timerEl, 'aria-label', `${Math.max(0, Math.ceil(left / 1000))} seconds left for ${p.toMove === p.you ? 'your' : 'this'} move`);
  }

  renderResult(p) {
    const r = p.status === 'completed' ? p.result || this.store.result || {} : null;
    this.resultEl.hidden = !r;
    if (!r) return;
    let text;
    if (r.draw) text = 'Draw.';
    else if (r.winner !== undefined && r.winner === p.you) text = 'You win!';
    else if (r.winner !== undefined) text = `${this.store.seatName(r.winner)} (${this.store.seatLabel(r.winner)}) wins.`;
    else if (r.scores) text = 'Final scores are in.';
    else text = 'Game over.';
    setText(this.resultText, text);
    const why = { win: '', draw: '', forfeit: 'by forfeit', timeout: 'on time', script_error: 'the game script failed', aborted: 'aborted' }[r.reason];
    setText(this.resultWhy, why === undefined ? r.reason || '' : why);
    this.resultEl.classList.toggle('won', r.winner !== undefined && r.winner === p.you);
    this.resultEl.classList.toggle('lost', r.winner !== undefined && p.you !== undefined && r.winner !== p.you);
    this.rematchBtn.hidden = p.you === undefined;
  }

  renderLog() {
    const entries = this.store.entries;
    this.logNote.hidden = !this.store.resynced;
    const keep = new Set(entries);
    for (const [e, li] of this.renderedEntries) {
      if (!keep.has(e)) {
        li.remove();
        this.renderedEntries.delete(e);
      }
    }
    let prev = null;
    for (const e of entries) {
      let li = this.renderedEntries.get(e);
      if (!li) {
        li = this.entryEl(e);
        this.renderedEntries.set(e, li);
        if (prev) prev.after(li);
        else this.logEl.prepend(li);
      }
      prev = li;
    }
    this.logEl.scrollTop = this.logEl.scrollHeight;
    const r = this.store.latestReasoning();
    this.reasonBubble.hidden = !r;
    if (r) {
      setChildren(
        this.reasonBubble,
        h('span', { class: 'who' }, `${this.store.displayName(r.seat)} thinks:`),
        ' ',
        h('q', null, r.text),
      );
    }
  }

  entryEl(e) {
    const s = this.store;
    const who = (seat) => h('span', { class: `who seat-${seat}` }, s.displayName(seat));
    const li = h('li', { class: `entry entry-${e.kind}`, dataset: { seq: e.seq, kind: e.kind } });
    switch (e.kind) {
      case 'move':
        li.append(
          h('span', { class: 'seq muted' }, `#${e.seq}`),
          ' ',
          who(e.seat),
          h('span', { class: 'muted' }, ` (${s.seatLabel(e.seat)}) `),
          h('span', { class: 'move-text' }, s.describe(e.event)),
        );
        if (e.reasoning) {
          li.append(h('div', { class: 'reasoning', dataset: { seq: e.reasoning.seq } }, h('q', null, e.reasoning.text)));
        }
        break;
      case 'reasoning':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', who(e.seat), ' thinks ', h('q', { class: 'reasoning-inline' }, e.text));
        break;
      case 'join':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', `${e.name}${e.playerKind === 'agent' ? ' (agent)' : ''} joined as ${s.seatLabel(e.seat)}`);
        break;
      case 'leave':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', `${e.name} left`);
        break;
      case 'timeout':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', who(e.seat), ' ran out of time');
        break;
      case 'over': {
        const r = e.result || {};
        const text = r.draw ? 'Draw' : r.winner !== undefined ? `${s.displayName(r.winner)} wins` : 'Game over';
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', h('strong', null, `${text}${r.reason && r.reason !== 'win' && r.reason !== 'draw' ? ` (${r.reason})` : ''}`));
        break;
      }
      case 'gm':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', who(e.from), ' handed the game master role to ', who(e.to));
        break;
      case 'answer':
        delete li.dataset.seq; // not an event of the log: the game's answer to my command
        li.append(h('span', { class: 'muted' }, `${e.command} → `), h('span', { class: 'answer-text' }, e.text));
        break;
      case 'hidden':
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ', h('span', { class: 'muted' }, 'a hidden event'));
        break;
      default: {
        const ev = e.event || {};
        li.append(h('span', { class: 'seq muted' }, `#${e.seq}`), ' ');
        if (ev.kind === 'kill' && ev.by !== undefined) li.append(who(ev.by), ' knocked out ', who(ev.victim));
        else if (ev.kind === 'respawn' && ev.seat !== undefined) li.append(who(ev.seat), ' is back');
        else if (ev.kind === 'round_over') li.append(h('strong', null, ev.draw ? 'Round over: a draw' : ev.winner !== undefined ? `Round over: ${s.displayName(ev.winner)} wins` : 'Round over'));
        else li.append(e.seat ? who(e.seat) : '', e.seat ? ' ' : '', `${ev.kind || 'event'}: ${s.describe(ev)}`);
      }
    }
    return li;
  }

  renderChat() {
    const chat = this.store.chat;
    for (let i = this.renderedChat; i < chat.length; i++) {
      const m = chat[i];
      const mine = m.from.playerId === (this.client.player && this.client.player.playerId);
      this.chatList.append(
        h(
          'li',
          { class: `chat-line${mine ? ' mine' : ''}`, dataset: { seq: m.seq } },
          h('span', { class: 'chat-from' }, mine ? 'You' : m.from.name || 'someone'),
          typeof m.ts === 'number' ? h('time', { class: 'muted small' }, timeOfDay(m.ts)) : null,
          h('span', { class: 'chat-text' }, m.text),
        ),
      );
    }
    this.renderedChat = chat.length;
    this.chatList.scrollTop = this.chatList.scrollHeight;
  }

  hint(text) {
    setText(this.hintEl, text || '');
    clearTimeout(this.hintTimer);
    this.hintTimer = setTimeout(() => setText(this.hintEl, ''), 4000);
  }

  whyNot() {
    const p = this.store.state;
    if (!p) return 'The game is loading.';
    if (p.you === undefined) return 'You are watching this game.';
    if (p.status === 'waiting') return 'The game has not started yet.';
    if (p.status === 'completed') return 'The game is over.';
    return "It's not your turn.";
  }

  async sendAction(action) {
    try {
      return await this.client.input(this.store.gameId, action, { realtime: this.realtime() });
    } catch (e) {
      this.hint(errorText(e));
      throw e;
    }
  }

  async sendChat(e) {
    e.preventDefault();
    const text = this.chatInput.value.trim();
    if (!text) return;
    this.chatInput.disabled = true;
    try {
      await this.client.chat(this.store.gameId, text);
      this.chatInput.value = '';
    } catch (err) {
      toast(errorText(err), 'error');
    } finally {
      this.chatInput.disabled = false;
      this.chatInput.focus();
    }
  }

  async sendCommand(e) {
    e.preventDefault();
    const text = this.commandInput.value.trim();
    if (!text) return;
    this.commandInput.disabled = true;
    try {
      const answer = await this.client.command(this.store.gameId, text);
      if (answer && answer.type === 'command_answer') this.store.addAnswer(text, answer.payload.text);
      this.commandInput.value = '';
    } catch (err) {
      this.hint(errorText(err));
    } finally {
      this.commandInput.disabled = false;
      this.commandInput.focus();
    }
  }

  async handGm(e) {
    e.preventDefault();
    const seat = Number(this.gmSelect.value);
    if (!seat) return;
    try {
      await this.client.handGm(this.store.gameId, seat);
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  async takeSeat() {
    try {
      await this.client.joinGame(this.store.gameId);
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  async leave() {
    const p = this.store.state;
    const id = this.store.gameId;
    if (p && p.you !== undefined && p.status === 'active' && !this.realtime() && !this.leaveArmed) {
      this.leaveArmed = true;
      setText(this.leaveBtn, 'Click again to resign');
      setTimeout(() => {
        this.leaveArmed = false;
        if (this.store.state) this.renderState();
      }, 3000);
      return;
    }
    if (p && p.status !== 'completed') {
      try {
        await this.client.leave(id);
      } catch (e) {
        if (e.code !== 'NOT_IN_GAME' && e.code !== 'NOT_FOUND') toast(errorText(e), 'error');
      }
    }
    this.app.closeGame(id);
    location.hash = '#/';
  }

  rematch() {
    this.app.rematch(this.store);
  }

  destroy() {
    this.destroyed = true;
    this.unsub();
    clearInterval(this.timer);
    clearTimeout(this.hintTimer);
    if (this.view) this.view.destroy();
    this.el.remove();
  }
}

function markEl(mark, seat) {
  const el = h('span', { class: `mark mark-${seat}`, 'aria-hidden': 'true' }, mark.glyph);
  if (mark.color) el.style.color = mark.color; // through the CSSOM, which the page's CSP allows
  return el;
}
