#!/usr/bin/env node
// A guest signs in, finds the catalog (with versions) and the agents (with their personalities)
// in the lobby, plays a whole game of tic-tac-toe against Sensible Sam by clicking, sees the
// agent's reasoning beside its moves, the turn clock, the result, and starts a rematch against the
// same agent. Screens at 1280x800 and in a narrow window are saved.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes } = require('./lib/e2e');

/** Clicks legal cells until the game is over; returns the number of moves made. */
async function playByClicking(page, t) {
  let moves = 0;
  for (let i = 0; i < 9; i++) {
    await page.waitForFunction(() => !document.querySelector('[data-testid=result]').hidden || document.querySelector('.ttt.my-turn .ttt-cell.legal'));
    if (await page.isVisible('[data-testid=result]')) break;
    if (moves === 0) {
      t.ok(await page.isVisible('.timer'), 'the turn clock counts down on my turn');
      t.ok(/^\d:\d\d$/.test((await page.textContent('.timer-text')).trim()), 'the clock reads m:ss');
      t.eq((await page.textContent('[data-testid=turn-line]')).trim(), 'Your turn.', 'the turn line says it is my turn');
    }
    const cell = await page.getAttribute('.ttt-cell.legal', 'data-cell');
    await page.click(`.ttt-cell[data-cell="${cell}"]`);
    moves++;
    await page.waitForFunction(
      (c) => !document.querySelector('[data-testid=result]').hidden || !document.querySelector('.ttt.my-turn') || document.querySelector(`.ttt-cell[data-cell="${c}"]`).textContent !== '',
      cell,
    );
    await page.waitForFunction((c) => document.querySelector(`.ttt-cell[data-cell="${c}"]`).textContent === 'X', cell);
  }
  return moves;
}

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page } = await newPage(browser);

  await page.goto(server.url + '/');
  await page.waitForSelector('#guest-btn');
  await screenshot(page, '10-signin');
  const playerId = await signInGuest(page, server);
  t.ok(/^[0-9a-f-]{36}$/.test(playerId || ''), `signed in as a guest (${playerId})`);
  await page.waitForSelector('#conn[data-status=connected]');
  t.ok(true, 'the connection indicator says connected');
  await page.waitForFunction(() => /\d ms/.test(document.getElementById('rtt').textContent));
  t.ok(true, `the heartbeat RTT is shown (${await page.textContent('#rtt')})`);

  const ttt = await page.textContent('.game-card[data-game=tictactoe]');
  t.ok(/Tic-tac-toe/.test(ttt) && /v [0-9a-f]{8}/.test(ttt), 'the catalog shows tic-tac-toe with its version');
  const sam = page.locator('.agent-btn[data-game=tictactoe][data-agent=heuristic]');
  t.ok(/Sensible Sam/.test(await sam.textContent()) && /Steady and practical/.test(await sam.textContent()), 'a "play against" button shows the agent title and personality');
  t.ok((await page.$$('[data-testid=agents] li.agent')).length >= 3, 'the agents panel lists the agents with versions');
  await screenshot(page, '10-lobby', { fullPage: true });

  await sam.click();
  const gameId = await gameIdOf(page);
  t.ok(!!gameId, `a game was created (${gameId})`);
  await page.waitForSelector('.ttt');
  t.eq(await page.$$eval('.ttt-cell', (c) => c.length), 9, 'the board has nine cells');
  const label = await page.getAttribute('.ttt-cell[data-cell="5"]', 'aria-label');
  t.ok(/Cell 5, row 2, column 2/.test(label), `cells have aria-labels (${label})`);
  const players = await page.textContent('[data-testid=players]');
  t.ok(/Sensible Sam/.test(players) && /you/.test(players), 'the players panel shows both players');
  await screenshot(page, '10-game-start');

  const moves = await playByClicking(page, t);
  t.ok(moves >= 3, `I played ${moves} moves by clicking`);
  await page.waitForSelector('[data-testid=result]:not([hidden])');
  const result = (await page.textContent('.result-text')).trim();
  t.ok(/^(You win!|Draw\.|Sensible Sam \(O\) wins\.)$/.test(result), `the result is shown: "${result}"`);
  await page.waitForSelector('.entry-over');
  const entries = await logEntries(page);
  t.eq(dupes(entries.map((e) => e.seq)), [], 'no log entry is shown twice');
  const reasons = await page.$$eval('[data-testid=log] .entry-move .reasoning', (r) => r.map((x) => x.textContent));
  t.ok(reasons.length >= 2 && reasons.every((r) => r.length > 5), `the agent's reasoning is shown beside its moves (${reasons.length})`, reasons);
  t.ok(await page.isVisible('[data-testid=reason-bubble]'), 'the latest reasoning is shown by the board');
  const agentMoves = entries.filter((e) => e.kind === 'move' && /Sensible Sam/.test(e.text)).length;
  t.eq(reasons.length, agentMoves, 'every agent move has its reasoning');
  t.ok((await page.$$('.ttt-cell.last')).length === 1, 'the last move is marked');
  t.ok(!(await page.isVisible('.timer')), 'no clock once the game is over');
  await screenshot(page, '10-game-over');

  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, '10-game-over-narrow', { fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.click('.result button:has-text("Rematch")');
  await page.waitForFunction((old) => location.hash.startsWith('#/game/') && !location.hash.endsWith(old), gameId);
  const again = await gameIdOf(page);
  await page.waitForSelector('.ttt.my-turn .ttt-cell.legal');
  t.ok(again !== gameId && /Sensible Sam/.test(await page.textContent('[data-testid=players]')), 'rematch starts a new game against the same agent');
  t.eq((await logEntries(page)).filter((e) => e.kind === 'move').length, 0, 'the new game starts with an empty log');

  await page.click('a.brand');
  await page.waitForSelector('.game-card');
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, '10-lobby-narrow', { fullPage: true });
  t.eq(page.errors, [], 'no script errors on the page');
});
