#!/usr/bin/env node
// Failover under the web client (issue 14): a cluster of three `monkeytown --cluster` instances
// (real redis-server and PostgreSQL 15 on loopback) behind docker/nginx.conf, the pages talking
// to nginx. Alice and Bob play tic-tac-toe; nginx hashes their one address to one instance, which
// also owns the room (a room stays where its creator's socket opened it). After two moves, once
// they are in PostgreSQL, that instance is killed with SIGKILL: both sockets and the room die
// together. nginx sends the reconnects to a live instance, a survivor takes the room over when
// the dead lease lapses and rebuilds it from PostgreSQL, and the pages resume by themselves:
// a socket that came back before the lease lapsed has its resume refused (SERVER_BUSY: the dead
// owner's channel has no subscriber) and retried, as is a resume while the room is rebuilt; no
// request of it reached the dead owner, so that owner's unlisting does not close it. Once each page's resume is answered, both show the
// board as it was, every log entry once and none missing, and the game is played to its end
// with the same result on both. Every wait is a generous deadline: nothing depends on the
// machine's speed.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tap, ClusterFront, ROOT, scriptDirs, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes, poll } = require('./lib/e2e');

// Generous: under ASan on a loaded machine.
const myTurn = (page) => page.waitForSelector('.ttt.my-turn .ttt-cell.legal', { timeout: 90000 });

async function play(page, cell, mark) {
  await myTurn(page);
  await page.click(`.ttt-cell[data-cell="${cell}"]`);
  await page.waitForSelector(`.ttt-cell[data-cell="${cell}"]:has-text("${mark}")`);
}

const board = (page) => page.$$eval('.ttt-cell', (cells) => cells.map((c) => c.textContent.trim()).join(''));
const stats = (page) => page.evaluate(() => ({ ...window.monkeytown.client.stats }));
const seqs = async (page) => (await logEntries(page)).map((e) => e.seq);
const contiguous = (list) => list.every((s, i) => i === 0 || s === list[i - 1] + 1);

/** Keeps the page's last WebSocket frames, both ways, for the diagnostics of a failure. */
function recordFrames(page, keep = 60) {
  page.frames_ = [];
  const note = (dir, ws) => (f) => {
    page.frames_.push(`${new Date().toISOString()} ${dir} ${ws.url().replace(/\?.*/, '')} ${String(f.payload).slice(0, 300)}`);
    if (page.frames_.length > keep) page.frames_.shift();
  };
  page.on('websocket', (ws) => {
    page.frames_.push(`${new Date().toISOString()} open`);
    ws.on('framesent', note('>', ws));
    ws.on('framereceived', note('<', ws));
    ws.on('close', () => page.frames_.push(`${new Date().toISOString()} closed`));
  });
}

new Tap().run(
  async (t) => {
    const pw = ensureDeps();
    // Tic-tac-toe with a 10-minute turn clock instead of 30 s: a clock running out while a slow
    // machine fails over would play a random move for Alice, a legitimate change of board.
    const dirs = scriptDirs(t, [[path.join(ROOT, 'games'), 'tictactoe']], []);
    const rules = path.join(dirs.games, 'tictactoe', 'game.lua');
    const lua = fs.readFileSync(rules, 'utf8');
    if (!/turn_time_ms = 30000,/.test(lua)) throw new Error('tictactoe has no turn_time_ms = 30000 to lengthen');
    fs.writeFileSync(rules, lua.replace('turn_time_ms = 30000,', 'turn_time_ms = 600000,'));
    const cluster = new ClusterFront(['alpha', 'beta', 'gamma'], { games: dirs.games });
    t.onCleanup(() => cluster.stop());
    if (!(await cluster.start())) {
      await t.cleanup();
      t.skipAll(cluster.skipWhy);
    }
    const ids = cluster.instances.map((i) => i.id);
    t.onCleanup(() => {
      if (!t.failed) return;
      for (const id of ids) {
        const lines = cluster.logs(id).split('\n').filter((l) => !/postgres notice|script version live/.test(l));
        t.diag(`--- ${id}'s log (tail)\n${lines.slice(-40).join('\n')}`);
      }
    });
    const sum = async (name) => (await Promise.all(ids.map((id) => cluster.metric(id, name)))).reduce((a, b) => a + b, 0);
    const browser = await launch(pw);
    t.onCleanup(() => browser.close());
    const A = (await newPage(browser)).page;
    const B = (await newPage(browser)).page;
    recordFrames(A);
    recordFrames(B);
    t.onCleanup(() => {
      if (t.failed) for (const [name, page] of [['Alice', A], ['Bob', B]]) t.diag(`--- ${name}'s last frames\n${page.frames_.join('\n')}`);
    });
    await signInGuest(A, cluster);
    await signInGuest(B, cluster);

    await A.click('.game-card[data-game=tictactoe] button[data-action=open]');
    const gameId = await gameIdOf(A);
    await B.locator(`tr[data-game-id="${gameId}"] button[data-action=join]`).click();
    await B.waitForSelector('.ttt');
    await play(A, 1, 'X');
    await B.waitForSelector('.ttt-cell[data-cell="1"]:has-text("X")');
    await play(B, 5, 'O');
    await A.waitForSelector('.ttt-cell[data-cell="5"]:has-text("O")');

    // Where the sockets and the room are: the instance with both pages' sockets, and the one
    // with the room open (polled: the gauges follow the events).
    const where = async (name, n) => {
      const vals = await Promise.all(ids.map((id) => cluster.metric(id, name)));
      const at = ids.filter((id, i) => vals[i] === n);
      return at.length === 1 && (await sum(name)) === n ? at[0] : null;
    };
    const victim = await poll(() => where('ws_connections', 2), 30000);
    t.ok(victim, `both pages' sockets are on one instance (${victim})`);
    const owner = await poll(() => where('active_game_sessions', 1), 30000);
    t.eq(owner, victim, 'which owns the room too: its death takes the sockets and the room');
    t.ok(await poll(async () => (await cluster.metric(owner, 'store_queue_rows')) === 0, 60000),
      'the two moves are written to PostgreSQL (nothing can rewind)');
    const before = await board(A);
    const logA = await seqs(A);
    const logB = await seqs(B);
    // Each page counts the answers to its resumes of this game from here on: only a live owner
    // answers one. Until then the page may show "connected" on a socket whose resume went to
    // the dead owner (its lease not lapsed yet), to be closed with 1012 once it is unlisted.
    for (const page of [A, B])
      await page.evaluate((gid) => {
        window.resumedSinceKill = 0;
        window.monkeytown.client.on('message', (m) => {
          if (m.gameId === gid && m.re !== undefined && (m.type === 'replay' || m.type === 'game_state')) window.resumedSinceKill++;
        });
      }, gameId);
    const connects = { A: (await stats(A)).connects, B: (await stats(B)).connects };

    await cluster.kill(victim);
    t.ok(true, `${victim} was killed with SIGKILL mid-game`);
    const survivors = ids.filter((id) => id !== victim);
    for (const [name, page, key] of [['Alice', A, 'A'], ['Bob', B, 'B']]) {
      // A new socket (the page's own count of welcomes), connected, its resume answered.
      const back = await poll(async () => (await stats(page)).connects > connects[key] &&
        (await page.evaluate((gid) => window.monkeytown.client.status === 'connected' && window.resumedSinceKill > 0 &&
          window.monkeytown.client.games.get(gid)?.resuming === null, gameId)), 120000, 250);
      t.ok(back, `${name}'s page reconnected by itself through nginx and resumed the game`);
    }
    const rebuilt = await poll(async () => {
      const n = await Promise.all(survivors.map((id) => cluster.metric(id, 'rooms_taken_over_total{outcome="rebuilt"}')));
      return n[0] + n[1] === 1;
    }, 90000);
    t.ok(rebuilt, 'one survivor took the room over and rebuilt it from PostgreSQL');
    await myTurn(A);
    t.eq(await board(A), before, "Alice's board is the one before the kill, and it is her turn");
    t.eq(await board(B), before, "Bob's too");
    const afterA = await seqs(A);
    const afterB = await seqs(B);
    t.eq(dupes(afterA), [], "no entry shown twice in Alice's log");
    t.eq(dupes(afterB), [], "nor in Bob's");
    t.eq(afterA, logA, "Alice's log is the one before the kill: none missing or added");
    t.eq(afterB, logB, "Bob's too");
    t.ok(!(await A.isVisible('[data-testid=result]')), 'the game is still running');
    const sa = await stats(A);
    t.eq([sa.rewinds, sa.resyncs], [0, 0], 'nothing was withdrawn or skipped (no rewind, no resync)');
    await screenshot(A, '85-after-failover');

    await play(A, 2, 'X');
    await B.waitForSelector('.ttt-cell[data-cell="2"]:has-text("X")', { timeout: 60000 });
    t.ok(true, "Bob sees Alice's first move after the failover");
    await play(B, 9, 'O');
    await A.waitForSelector('.ttt-cell[data-cell="9"]:has-text("O")', { timeout: 60000 });
    await play(A, 3, 'X');
    for (const page of [A, B]) await page.waitForSelector('[data-testid=result]:not([hidden])', { timeout: 60000 });
    t.ok(await A.isVisible('[data-testid=result].won'), 'Alice wins the game that survived the failover');
    t.ok(await B.isVisible('[data-testid=result].lost'), 'and Bob sees the same result: he lost');
    const finalA = await logEntries(A);
    const finalB = await logEntries(B);
    for (const [name, log] of [['Alice', finalA], ['Bob', finalB]]) {
      const s = log.map((e) => e.seq);
      t.ok(dupes(s).length === 0 && contiguous(s), `${name}'s log has every entry once, in order`, s);
      t.eq(log.filter((e) => e.kind === 'move').length, 5, `${name}'s log shows all five moves`);
    }
    t.eq(finalB.map((e) => [e.seq, e.kind]), finalA.slice(-finalB.length).map((e) => [e.seq, e.kind]),
      "Bob's log is Alice's (from where he joined)");
    t.eq(A.errors.concat(B.errors), [], 'no errors in the pages');
    await screenshot(A, '85-finished');
  },
  { limitMs: 420000 },
);
