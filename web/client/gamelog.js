// The log of every game the client is in, by seq: delivers each log event exactly once and in
// order, asks the server to resume when something is missing or the socket came back, and says
// when history was lost (resync) or withdrawn by a server restart (rewind).

/** Message types that are events of a game's log and take a seq of their own. */
export const LOG_TYPES = new Set(['game_event', 'player_joined', 'player_left', 'chat_message', 'gm_changed', 'game_over']);

export class GameLog {
  /**
   * @param {object} stats  the client's counters: duplicates, gaps, resyncs, rewinds are kept here
   * @param {(type: string, arg: any) => void} emit  the client's event emitter
   * @param {(type: string, payload: object) => {id: number|null, promise: Promise}} request
   */
  constructor(stats, emit, request) {
    this.stats = stats;
    this.emit = emit;
    this.request = request;
    this.games = new Map(); // gameId -> {lastSeq, resuming}
  }

  /** The record of a game, made on first use. */
  game(gameId) {
    let g = this.games.get(gameId);
    if (!g) {
      g = { lastSeq: null, resuming: null };
      this.games.set(gameId, g);
    }
    return g;
  }

  /** A socket went away: no resume is in flight any more. */
  clearResuming() {
    for (const g of this.games.values()) g.resuming = null;
  }

  /** After a welcome: asks for what each game missed while the socket was away. */
  resumeAll() {
    for (const [gameId, g] of this.games) this.resume(gameId, g.lastSeq ?? 0);
  }

  /** Delivers one game-scoped or global message, dropping log events already delivered. */
  deliver(msg) {
    const gameId = msg.gameId;
    if (typeof gameId === 'string' && typeof msg.seq === 'number' && msg.type !== 'left') {
      const g = this.game(gameId);
      const deliver = LOG_TYPES.has(msg.type) ? this._logEvent(g, msg) : msg.type !== 'game_state' || this._state(g, msg);
      if (!deliver) return;
    }
    this.emit(msg.type, msg);
    this.emit('message', msg);
  }

  /** Whether a log event is next in line; a duplicate is dropped, a gap asks for a resume. */
  _logEvent(g, msg) {
    if (g.lastSeq !== null && msg.seq <= g.lastSeq) {
      this.stats.duplicates++;
      return false;
    }
    if (g.lastSeq !== null && msg.seq > g.lastSeq + 1) {
      // Something went missing: fetch it (and this one) through resume, in order.
      this.stats.gaps++;
      if (!g.resuming && !msg.replayed) this.resume(msg.gameId, g.lastSeq);
      return false;
    }
    g.lastSeq = msg.seq;
    return true;
  }

  /** A game_state is always delivered; it moves lastSeq or reveals a gap. */
  _state(g, msg) {
    if (g.resuming !== null && msg.re === g.resuming) {
      // The answer to resume without a replay: the gap was older than the server's buffer.
      g.resuming = null;
      if (g.lastSeq !== null && msg.seq > g.lastSeq) {
        this.stats.resyncs++;
        this.emit('resync', { gameId: msg.gameId, from: g.lastSeq + 1, to: msg.seq });
      }
      if (g.lastSeq === null || msg.seq > g.lastSeq) g.lastSeq = msg.seq;
    } else if (g.lastSeq === null) {
      g.lastSeq = msg.seq;
    } else if (msg.seq > g.lastSeq && !g.resuming) {
      this.stats.gaps++;
      this.resume(msg.gameId, g.lastSeq);
    }
    return true;
  }

  /** Unpacks a replay into its events, each delivered as if it had come alone. */
  onReplay(msg) {
    const gameId = msg.gameId;
    const g = this.game(gameId);
    const events = Array.isArray(msg.payload.events) ? msg.payload.events : [];
    const isAnswer = g.resuming !== null && msg.re === g.resuming;
    if (isAnswer) g.resuming = null;
    // The rebuilt room does not have the last events this client was sent (a crash before they
    // were stored): they are withdrawn, and the seqs after `rewind` come again, possibly with
    // other content (docs/protocol.md, "Rewind"). An older server only sent a seq below ours.
    const rewind = typeof msg.payload.rewind === 'number' ? msg.payload.rewind
      : typeof msg.seq === 'number' && msg.seq < g.lastSeq ? msg.seq : null;
    if (isAnswer && rewind !== null && g.lastSeq !== null && rewind < g.lastSeq) {
      this.stats.rewinds++;
      this.emit('rewind', { gameId, from: rewind + 1, to: g.lastSeq });
      g.lastSeq = rewind;
    }
    for (const ev of events) {
      this.deliver({ type: ev.type, gameId, seq: ev.seq, payload: ev.payload || {}, replayed: true });
    }
    this.emit('replay', msg);
    this.emit('message', msg);
  }

  /** Sends resume {gameId, lastSeq}; a game the server no longer knows is forgotten (game_gone). */
  resume(gameId, lastSeq) {
    const g = this.game(gameId);
    const { id, promise } = this.request('resume', { gameId, lastSeq: Math.max(0, lastSeq | 0) });
    g.resuming = id;
    promise.then(
      () => {
        g.busyTries = 0;
      },
      (e) => {
        if (g.resuming === id) g.resuming = null;
        if (e.code === 'NOT_FOUND' && this.games.get(gameId) === g) {
          this.games.delete(gameId);
          this.emit('game_gone', { gameId, error: e });
        } else if (e.code === 'SERVER_BUSY' && this.games.get(gameId) === g && (g.busyTries = (g.busyTries || 0) + 1) <= 60) {
          // A cluster moving the game to another instance (docs/protocol.md): ask again shortly.
          setTimeout(() => {
            if (this.games.get(gameId) === g && !g.resuming) this.resume(gameId, g.lastSeq ?? lastSeq);
          }, 500);
        }
      },
    );
    return promise;
  }

  lastSeq(gameId) {
    const g = this.games.get(gameId);
    return g ? g.lastSeq : null;
  }

  /** Starts tracking a game from lastSeq unless it is tracked already. */
  track(gameId, lastSeq) {
    const g = this.game(gameId);
    if (g.lastSeq === null) g.lastSeq = lastSeq;
    return g;
  }
}
