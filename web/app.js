// The Monkeytown web client: sign-in, lobby, game screens. All protocol work is done by
// monkeytown.js; this file wires it to the page. window.monkeytown = {client, app} is there for
// the console and the end-to-end tests.
import { MonkeytownClient, LOG_TYPES } from './monkeytown.js';
import { errorText, setText, short, toast } from './ui/dom.js';
import { GameStore } from './ui/store.js';
import { GameScreen } from './ui/game.js';
import { Lobby } from './ui/lobby.js';

const GAME_TYPES = new Set(['game_state', ...LOG_TYPES]);
const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.client = new MonkeytownClient();
    this.games = [];
    this.agents = [];
    this.catalog = new Map();
    this.stores = new Map();
    this.screen = null;
    this.subscribed = false;
    this.origins = loadOrigins();

    const c = this.client;
    c.on('message', (m) => {
      if (typeof m.gameId === 'string' && GAME_TYPES.has(m.type)) this.store(m.gameId).onMessage(m);
    });
    c.on('game_state', () => {
      if (this.lobby && !this.screen) this.lobby.renderMine();
      this.updateTitle();
    });
    c.on('resync', ({ gameId }) => this.stores.get(gameId)?.markResynced());
    c.on('rewind', ({ gameId, from }) => this.stores.get(gameId)?.rewind(from));
    c.on('game_gone', ({ gameId }) => {
      this.stores.get(gameId)?.markGone();
      if (!this.screen || this.screen.store.gameId !== gameId) this.stores.delete(gameId);
    });
    c.on('status', (s) => this.renderStatus(s));
    c.on('rtt', (ms) => setText($('rtt'), `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`));
    c.on('welcome', (w) => this.onWelcome(w));
    c.on('auth_lost', (e) => {
      toast(e.guest ? 'The server no longer knew your guest session: you are a new guest now.' : 'Your session expired. Please sign in again.', 'error', 6000);
      if (!e.guest) this.route();
    });
    c.on('error', (m) => toast(errorText(m.payload), 'error'));

    this.bindChrome();
    window.addEventListener('hashchange', () => this.route());
    this.refreshCatalog();
    if (c.auth) c.connect().catch(() => this.route());
    this.route();
  }

  // ------------------------------------------------------------ chrome

  bindChrome() {
    $('guest-btn').addEventListener('click', () => this.signIn(() => this.client.guest()));
    $('account-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const how = e.submitter && e.submitter.value === 'register' ? 'register' : 'login';
      const u = $('username').value.trim();
      const p = $('password').value;
      if (!u || !p) {
        setText($('signin-error'), 'Enter a username and a password.');
        return;
      }
      this.signIn(() => (how === 'register' ? this.client.register(u, p) : this.client.login(u, p)), how);
    });
    $('signout').addEventListener('click', () => {
      for (const id of [...this.stores.keys()]) this.closeGame(id);
      this.client.signOut();
      this.subscribed = false;
      location.hash = '#/';
      this.route();
    });
  }

  async signIn(fn, how = 'guest') {
    const err = $('signin-error');
    setText(err, '');
    const buttons = document.querySelectorAll('#view-signin button');
    buttons.forEach((b) => (b.disabled = true));
    try {
      await fn();
      this.route();
    } catch (e) {
      const msgs = {
        409: 'That username is taken. Pick another one, or sign in.',
        401: 'Wrong username or password.',
        404: 'This server does not offer accounts yet. Play as a guest.',
        405: 'This server does not offer accounts yet. Play as a guest.',
      };
      setText(err, msgs[e.status] && how !== 'guest' ? msgs[e.status] : errorText(e));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  renderStatus(s) {
    this.lastStatus = s;
    clearInterval(this.statusTimer);
    if (s.retryAt && s.status !== 'connected') this.statusTimer = setInterval(() => this.renderStatus(this.lastStatus), 1000);
    const signedIn = !!this.client.auth;
    $('netbanner').hidden = !(signedIn && (s.status === 'reconnecting' || s.status === 'offline'));
    const el = $('conn');
    const labels = {
      idle: 'Offline',
      connecting: 'Connecting…',
      connected: 'Connected',
      reconnecting: 'Reconnecting…',
      offline: 'Offline',
      closed: 'Not connected',
    };
    el.dataset.status = s.status;
    let text = labels[s.status] || s.status;
    if ((s.status === 'reconnecting' || s.status === 'offline') && s.retryAt) {
      const secs = Math.max(0, Math.round((s.retryAt - Date.now()) / 1000));
      if (secs) text += ` · retry in ${secs} s`;
    }
    setText(el.querySelector('.conn-text'), text);
    if (s.status !== 'connected') setText($('rtt'), '');
  }

  onWelcome(w) {
    $('me').hidden = false;
    setText($('me-name'), w.name);
    const id = $('me-id');
    setText(id, short(w.playerId));
    id.dataset.playerId = w.playerId;
    id.title = `Your player id: ${w.playerId}`;
    if (!this.subscribed) {
      this.subscribed = true;
      this.client.subscribe('lobby').catch(() => {});
      this.client.subscribe('evolution').catch(() => {});
    }
    this.refreshCatalog();
    const signin = $('view-signin');
    if (!signin.hidden) this.route();
  }

  updateTitle() {
    const s = this.screen && this.screen.store.state;
    let t = 'Monkeytown';
    if (s) {
      const info = this.catalog.get(s.game);
      const name = info ? info.title : s.game;
      t = `${s.status === 'active' && s.toMove !== undefined && s.toMove === s.you ? 'Your turn · ' : ''}${name} · Monkeytown`;
    }
    if (document.title !== t) document.title = t;
  }

  // ------------------------------------------------------------ data

  async refreshCatalog() {
    try {
      const [games, agents] = await Promise.all([this.client.listGames(), this.client.listAgents()]);
      this.games = Array.isArray(games) ? games : [];
      this.agents = Array.isArray(agents) ? agents : [];
      this.catalog = new Map(this.games.map((g) => [g.name, g]));
      if (this.lobby) this.lobby.render();
    } catch (e) {
      if (this.lobby && !this.games.length) this.lobby.render();
    }
  }

  store(gameId) {
    let s = this.stores.get(gameId);
    if (!s) {
      s = new GameStore(gameId);
      s.origin = this.origins[gameId] || null;
      this.stores.set(gameId, s);
    }
    return s;
  }

  origin(gameId, o) {
    this.origins[gameId] = o;
    const keys = Object.keys(this.origins);
    if (keys.length > 50) delete this.origins[keys[0]];
    try {
      sessionStorage.setItem('monkeytown.origins', JSON.stringify(this.origins));
    } catch {
      /* not kept across reloads then */
    }
    const s = this.stores.get(gameId);
    if (s) s.origin = o;
  }

  async startQuickMatch(game, opts) {
    const st = await this.client.quickMatch(game, opts);
    this.origin(st.gameId, { mode: 'quick', opts });
    return st;
  }

  async rematch(old) {
    const game = old.game;
    const o = old.origin || {};
    const agent = o.agent || (o.mode !== 'quick' ? old.agentName() : null);
    try {
      let gameId;
      if (agent && o.mode !== 'quick') {
        ({ gameId } = await this.client.createGame(game, { vsAgent: agent }));
        this.origin(gameId, { mode: 'agent', agent });
      } else {
        if (this.screen) this.screen.hint('Looking for an opponent…');
        ({ gameId } = await this.startQuickMatch(game, o.opts || {}));
      }
      this.closeGame(old.gameId);
      this.openGame(gameId);
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  openGame(gameId) {
    const hash = `#/game/${gameId}`;
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  closeGame(gameId) {
    this.client.forget(gameId);
    if (!this.screen || this.screen.store.gameId !== gameId) this.stores.delete(gameId);
    else this.closingId = gameId;
  }

  // ------------------------------------------------------------ routing

  route() {
    const signedIn = !!this.client.auth || this.client.status === 'connected';
    const views = { signin: $('view-signin'), lobby: $('view-lobby'), game: $('view-game') };
    const show = (name) => {
      for (const [k, el] of Object.entries(views)) el.hidden = k !== name;
    };
    if (!signedIn) {
      this.unmountGame();
      $('me').hidden = true;
      show('signin');
      document.title = 'Monkeytown';
      if (!document.activeElement || document.activeElement === document.body) $('guest-btn').focus();
      return;
    }
    const m = location.hash.match(/^#\/game\/([A-Za-z0-9-]{1,64})$/);
    if (m) {
      const gameId = m[1];
      if (this.screen && this.screen.store.gameId === gameId) {
        show('game');
        return;
      }
      this.unmountGame();
      const store = this.store(gameId);
      if (!this.client.games.has(gameId)) {
        // Not a game this page is in (a reload, or a shared link): resume from the start. The
        // server puts us back in our seat, or lets us watch.
        if (this.client.connected) this.client.resume(gameId, 0).catch((e) => e.code === 'NOT_FOUND' && store.markGone(e));
        else this.client.track(gameId, 0);
      }
      this.screen = new GameScreen(this, store);
      views.game.replaceChildren(this.screen.el);
      show('game');
      this.screen.maybeFocus();
      this.updateTitle();
      return;
    }
    this.unmountGame();
    if (!this.lobby) {
      this.lobby = new Lobby(this);
      views.lobby.replaceChildren(this.lobby.el);
    }
    this.lobby.render();
    show('lobby');
    this.updateTitle();
  }

  unmountGame() {
    if (!this.screen) return;
    const store = this.screen.store;
    const id = store.gameId;
    this.screen.destroy();
    this.screen = null;
    if (store.gone || (store.state && store.state.status === 'completed')) {
      // Nothing more to see there: stop resuming it after reconnects.
      this.client.forget(id);
      this.stores.delete(id);
    } else if (this.closingId === id) {
      this.stores.delete(id);
      this.closingId = null;
    }
  }
}

function loadOrigins() {
  try {
    return JSON.parse(sessionStorage.getItem('monkeytown.origins') || '{}') || {};
  } catch {
    return {};
  }
}

const app = new App();
window.monkeytown = { client: app.client, app };
