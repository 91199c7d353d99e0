// The lobby: the game catalog (with versions), "play against" an agent, quick match, open a room;
// the open rooms, live (subscribe lobby); your own games; the agents and their evolution, live
// (subscribe evolution); each game's rules when its folder ships them.
import { errorText, h, setChildren, short, timeOfDay, toast } from './dom.js';
import { rulesPanel } from './rules.js';

export class Lobby {
  constructor(app) {
    this.app = app;
    this.client = app.client;
    this.rooms = new Map();
    this.feed = [];
    this.searching = null;
    this.rulesEls = new Map();
    this.build();
    const c = this.client;
    c.on('lobby', (m) => {
      this.rooms = new Map((m.payload.rooms || []).map((r) => [r.gameId, r]));
      this.renderRooms();
    });
    c.on('lobby_update', (m) => {
      const { event, room } = m.payload;
      if (!room) return;
      if (event === 'closed') this.rooms.delete(room.gameId);
      else this.rooms.set(room.gameId, room);
      this.renderRooms();
    });
    c.on('agent_evolved', (m) => {
      this.feed.unshift({ ...m.payload, at: Date.now() });
      this.feed.length = Math.min(this.feed.length, 30);
      const a = app.agents.find((x) => x.name === m.payload.agent);
      if (a) {
        a.version = m.payload.version;
        if (m.payload.commit) a.commit = m.payload.commit;
        if (m.payload.summary) a.summary = m.payload.summary;
      }
      this.renderAgents();
      this.renderGames();
      app.refreshCatalog(); // titles, personalities or availability may have changed too
    });
  }

  build() {
    this.gamesEl = h('div', { class: 'game-cards', 'data-testid': 'catalog' });
    this.roomsEl = h('div', { class: 'rooms', 'data-testid': 'rooms' });
    this.mineEl = h('div', { class: 'my-games' });
    this.agentsEl = h('ul', { class: 'agents', 'data-testid': 'agents' });
    this.feedEl = h('ol', { class: 'feed', 'data-testid': 'evolution-feed', 'aria-live': 'polite' });
    this.searchEl = h('div', { class: 'searching', hidden: true, role: 'status' });
    this.el = h(
      'div',
      { class: 'lobby' },
      h(
        'div',
        { class: 'lobby-main' },
        this.searchEl,
        h('section', { class: 'panel', 'aria-labelledby': 'mine-h', hidden: true, id: 'mine-panel' }, h('h2', { id: 'mine-h' }, 'Your games'), this.mineEl),
        h('section', { class: 'panel', 'aria-labelledby': 'rooms-h' }, h('h2', { id: 'rooms-h' }, 'Open rooms'), this.roomsEl),
        h('section', { 'aria-labelledby': 'games-h' }, h('h2', { id: 'games-h' }, 'Games'), this.gamesEl),
      ),
      h(
        'aside',
        { class: 'lobby-side' },
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'agents-h' },
          h('h2', { id: 'agents-h' }, 'Agents'),
          h('p', { class: 'muted small' }, 'Each agent is a Lua script; a new commit to it reaches new games at once.'),
          this.agentsEl,
          h('h3', null, 'Evolution feed'),
          this.feedEl,
        ),
      ),
    );
    this.mineWrap = this.el.querySelector('#mine-panel');
  }

  render() {
    this.renderGames();
    this.renderRooms();
    this.renderAgents();
    this.renderMine();
  }

  agentsFor(game) {
    return this.app.agents.filter((a) => {
      if (a.available === false || !Array.isArray(a.games)) return false;
      if (a.games.includes(game.name)) return true;
      return a.games.includes('*') && !(game.tickRate > 0); // "*": any game with legal actions
    });
  }

  renderGames() {
    const games = this.app.games;
    if (!games.length) {
      setChildren(this.gamesEl, h('p', { class: 'muted' }, 'Loading the catalog…'));
      return;
    }
    setChildren(
      this.gamesEl,
      games.map((g) => this.gameCard(g)),
    );
  }

  /** One game of the catalog: what it is, its buttons, the agents it can be played against. */
  gameCard(g) {
    const playable = g.available !== false;
    const players = g.players ? (g.players.min === g.players.max ? `${g.players.min} players` : `${g.players.min}–${g.players.max} players`) : '';
    const pace = g.tickRate > 0 ? `real-time, ${g.tickRate} Hz` : `turn-based${g.turnTimeMs ? `, ${Math.round(g.turnTimeMs / 1000)} s a move` : ''}`;
    return h(
      'article',
      { class: 'game-card', dataset: { game: g.name } },
      h('h3', null, g.title || g.name),
      h(
        'p',
        { class: 'muted small' },
        `${players} · ${pace} · `,
        h('span', { class: 'version', title: g.commit ? `commit ${g.commit}` : 'content hash' }, `v ${short(g.version)}`),
      ),
      playable ? null : h('p', { class: 'warn small' }, `Unavailable${g.refused ? `: ${typeof g.refused === 'string' ? g.refused : 'refused'}` : ''}`),
      h(
        'div',
        { class: 'row' },
        h(
          'button',
          {
            type: 'button',
            class: 'btn primary',
            disabled: !playable,
            dataset: { action: 'quick', game: g.name },
            on: { click: () => this.quickMatch(g) },
          },
          'Quick match',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'btn',
            disabled: !playable,
            dataset: { action: 'open', game: g.name },
            title: 'A room other people can join from the lobby',
            on: { click: () => this.openRoom(g) },
          },
          'Open a room',
        ),
      ),
      this.versus(g, playable),
      this.rulesOf(g.name),
    );
  }

  /** A card's "Play against" list of the agents that play g (null when none does). */
  versus(g, playable) {
    const agents = this.agentsFor(g);
    if (!agents.length) return null;
    return h(
      'div',
      { class: 'versus' },
      h('h4', null, 'Play against'),
      h(
        'ul',
        { class: 'versus-list' },
        agents.map((a) =>
          h(
            'li',
            null,
            h(
              'button',
              {
                type: 'button',
                class: 'agent-btn',
                disabled: !playable,
                dataset: { game: g.name, agent: a.name },
                'aria-label': `Play ${g.title || g.name} against ${a.title || a.name}: ${a.personality || ''}`,
                on: { click: () => this.vsAgent(g, a) },
              },
              h('span', { class: 'agent-title' }, a.title || a.name),
              h('span', { class: 'agent-personality' }, a.personality || ''),
            ),
          ),
        ),
      ),
    );
  }

  /** The card's "How to play" (one element per game, so an open one stays open on re-render). */
  rulesOf(game) {
    if (!this.rulesEls.has(game)) this.rulesEls.set(game, rulesPanel(game));
    return this.rulesEls.get(game);
  }

  renderRooms() {
    const me = this.client.player && this.client.player.playerId;
    const rooms = [...this.rooms.values()].sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
    if (!rooms.length) {
      setChildren(this.roomsEl, h('p', { class: 'muted' }, 'No open rooms right now. Open one, and it shows up here for everyone.'));
      return;
    }
    setChildren(
      this.roomsEl,
      h(
        'table',
        { class: 'rooms-table' },
        h('thead', null, h('tr', null, h('th', null, 'Game'), h('th', null, 'Players'), h('th', null, 'Status'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
        h(
          'tbody',
          null,
          rooms.map((r) => {
            const info = this.app.catalog.get(r.game);
            const players = r.players || [];
            const inIt = players.some((p) => p.playerId === me);
            const free = r.status === 'waiting' && players.length < (r.seats || 2) && !inIt;
            const status = r.status === 'waiting' ? `waiting (${players.length}/${r.seats})` : r.status === 'active' ? (r.toMove ? `playing · seat ${r.toMove} to move` : 'playing') : r.status;
            return h(
              'tr',
              { dataset: { gameId: r.gameId, game: r.game, status: r.status } },
              h('td', null, info ? info.title : r.game, h('span', { class: 'muted small' }, ` · ${short(r.gameId)}`)),
              h('td', null, players.length ? players.map((p) => `${p.name}${p.kind === 'agent' ? ' (agent)' : ''}${p.connected === false ? ' (away)' : ''}`).join(' vs ') : '—'),
              h('td', null, status),
              h(
                'td',
                { class: 'actions' },
                inIt
                  ? h('a', { class: 'btn', href: `#/game/${r.gameId}`, dataset: { action: 'open' } }, 'Open')
                  : [
                      free ? h('button', { type: 'button', class: 'btn primary', dataset: { action: 'join' }, 'aria-label': `Join ${info ? info.title : r.game} room ${short(r.gameId)}`, on: { click: () => this.join(r) } }, 'Join') : null,
                      h('button', { type: 'button', class: 'btn', dataset: { action: 'watch' }, 'aria-label': `Watch ${info ? info.title : r.game} room ${short(r.gameId)}`, on: { click: () => this.watch(r) } }, 'Watch'),
                    ],
              ),
            );
          }),
        ),
      ),
    );
  }

  renderMine() {
    const mine = [...this.app.stores.values()].filter((s) => s.state && s.state.status !== 'completed' && !s.gone);
    this.mineWrap.hidden = !mine.length;
    setChildren(
      this.mineEl,
      h(
        'ul',
        { class: 'plain' },
        mine.map((s) => {
          const info = this.app.catalog.get(s.game);
          return h(
            'li',
            null,
            h('a', { href: `#/game/${s.gameId}` }, `${info ? info.title : s.game} · ${short(s.gameId)}`),
            h('span', { class: 'muted small' }, ` — ${s.state.you !== undefined ? (s.state.toMove === s.state.you ? 'your turn' : s.state.status) : 'watching'}`),
          );
        }),
      ),
    );
  }

  renderAgents() {
    setChildren(
      this.agentsEl,
      this.app.agents.map((a) =>
        h(
          'li',
          { class: 'agent', dataset: { agent: a.name } },
          h('div', null, h('strong', null, a.title || a.name), h('span', { class: 'muted small' }, ` (${a.name})`)),
          h(
            'div',
            { class: 'small' },
            h('span', { class: 'version', title: a.commit ? `commit ${a.commit}` : 'content hash' }, `v ${short(a.version)}`),
            a.commit ? h('span', { class: 'muted' }, ` · commit ${short(a.commit, 7)}`) : null,
            a.available === false ? h('span', { class: 'warn' }, ' · unavailable') : null,
          ),
          a.summary ? h('div', { class: 'muted small summary' }, a.summary) : null,
          a.games ? h('div', { class: 'muted small' }, `plays ${a.games.includes('*') ? 'any turn-based game' : a.games.map((n) => (this.app.catalog.get(n) || {}).title || n).join(', ')}`) : null,
        ),
      ),
    );
    setChildren(
      this.feedEl,
      this.feed.length
        ? this.feed.map((e) =>
            h(
              'li',
              { dataset: { agent: e.agent } },
              h('time', { class: 'muted small' }, timeOfDay(e.at)),
              ' ',
              h('strong', null, (this.app.agents.find((a) => a.name === e.agent) || {}).title || e.agent),
              ` (${e.agent}) evolved to `,
              h('span', { class: 'version' }, `v ${short(e.version)}`),
              e.commit ? ` (${short(e.commit, 7)})` : '',
              e.summary ? h('div', { class: 'muted small' }, e.summary) : null,
            ),
          )
        : h('li', { class: 'muted small' }, 'No changes since you arrived. When someone commits a new version of an agent, it shows up here.'),
    );
  }

  setSearching(text) {
    this.searchEl.hidden = !text;
    setChildren(this.searchEl, text ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), text] : []);
  }

  /**
   * Enters a game: request() asks the server and resolves to the game's id; where the game came
   * from (origin, when given) is noted and the game opened. A refusal becomes a toast.
   */
  async enter(request, origin) {
    try {
      const gameId = await request();
      if (origin) this.app.origin(gameId, origin);
      this.app.openGame(gameId);
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  async quickMatch(g) {
    if (this.searching) return;
    this.searching = g.name;
    this.setSearching(`Looking for an opponent for ${g.title || g.name}… an agent steps in after 3 seconds.`);
    try {
      await this.enter(async () => (await this.app.startQuickMatch(g.name, {})).gameId);
    } finally {
      this.searching = null;
      this.setSearching('');
    }
  }

  openRoom(g) {
    return this.enter(async () => (await this.client.createGame(g.name)).gameId, { mode: 'room' });
  }

  vsAgent(g, a) {
    return this.enter(async () => (await this.client.createGame(g.name, { vsAgent: a.name })).gameId, { mode: 'agent', agent: a.name });
  }

  join(r) {
    return this.enter(async () => {
      await this.client.joinGame(r.gameId);
      return r.gameId;
    });
  }

  watch(r) {
    return this.enter(async () => {
      await this.client.watch(r.gameId);
      return r.gameId;
    });
  }
}
