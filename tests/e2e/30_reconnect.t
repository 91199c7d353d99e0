#!/usr/bin/env node
// A dropped socket recovers and nothing is shown twice or missed. Alice and Bob play tic-tac-toe.
// Alice's browser goes offline and her socket drops; meanwhile Bob moves and chats. The status
// indicator says offline; when the network is back the client reconnects by itself, resumes the
// game from the last seq it saw, and Alice sees Bob's move and message exactly once. A second
// drop (the socket simply closed) and a full replay forced from seq 0 change nothing on screen.
// Then the game is played to the end.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes } = require('./lib/e2e');

const myTurn = (page) => page.waitForSelector('.ttt.my-turn .ttt-cell.legal');
const status = (page) => page.getAttribute('#conn', 'data-status');

async function play(page, cell) {
  await myTurn(page);
  await page.click(`.ttt-cell[data-cell="${cell}"]`);
  await page.waitForFunction((c) => document.querySelector(`.ttt-cell[data-cell="${c}"]`).textContent !== '', cell);
}

async function shown(page) {
  const entries = await logEntries(page);
  const chat = await page.$$eval('[data-testid=chat] li', (l) => l.map((x) => Number(x.dataset.seq)));
  return { seqs: entries.map((e) => e.seq), moves: entries.filter((e) => e.kind === 'move').length, chat };
}

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page: A, context: actx } = await newPage(browser);
  const { page: B } = await newPage(browser);
  await signInGuest(A, server);
  await signInGuest(B, server);

  await A.click('.game-card[data-game=tictactoe] button[data-action=open]');
  const gameId = await gameIdOf(A);
  await B.locator(`tr[data-game-id="${gameId}"] button[data-action=join]`).click();
  await B.waitForSelector('.ttt');
  await A.evaluate(() => {
    window.statusLog = [];
    window.monkeytown.client.on('status', (s) => window.statusLog.push(s.status));
  });

  await play(A, 1);
  await B.waitForSelector('.ttt-cell[data-cell="1"]:has-text("X")');

  // 1. Offline, and the socket drops.
  await actx.setOffline(true);
  await A.evaluate(() => window.monkeytown.client.ws.close());
  await A.waitForSelector('#conn[data-status=offline]');
  t.ok(true, 'the indicator says offline while the network is down');
  await B.waitForSelector('[data-testid=players] .conn-dot.off');
  t.ok(/away/.test(await B.textContent('[data-testid=players]')), 'Bob sees Alice is away');
  await play(B, 5);
  await B.fill('.chat-input', 'still there?');
  await B.press('.chat-input', 'Enter');
  await B.waitForSelector('[data-testid=chat] li:has-text("still there?")');
  await A.waitForTimeout(300);
  t.eq(await A.textContent('.ttt-cell[data-cell="5"]'), '', 'offline, Alice has not seen the move yet');
  await screenshot(A, '30-offline');
  t.ok(['offline', 'reconnecting'].includes(await status(A)), 'still not connected while offline');

  await actx.setOffline(false);
  await A.waitForSelector('#conn[data-status=connected]', { timeout: 20000 });
  t.ok(true, 'back online, the client reconnects by itself');
  await A.waitForSelector('.ttt-cell[data-cell="5"]:has-text("O")');
  t.ok(true, "after resume Alice sees Bob's move made while she was away");
  await A.waitForSelector('[data-testid=chat] li:has-text("still there?")');
  let s = await shown(A);
  t.eq(dupes(s.seqs), [], 'no log entry twice after the reconnect');
  t.eq(s.moves, 2, 'both moves shown once');
  t.eq(s.chat.length, 1, 'the chat line sent while away is shown once');
  t.ok(await A.isVisible('.ttt.my-turn'), "it is Alice's turn again");
  await B.waitForFunction(() => !document.querySelector('[data-testid=players] .conn-dot.off'));
  t.ok(true, 'Bob sees Alice connected again');
  await screenshot(A, '30-recovered');

  // 2. The socket simply closes (no network change): the status passes through reconnecting.
  const before = await shown(A);
  const sessions = await A.evaluate(() => window.monkeytown.client.stats.connects);
  await A.evaluate(() => window.monkeytown.client.ws.close());
  await A.waitForFunction((n) => window.monkeytown.client.stats.connects > n && window.monkeytown.client.status === 'connected', sessions);
  const log = await A.evaluate(() => window.statusLog);
  t.ok(log.includes('reconnecting') && log[log.length - 1] === 'connected', `status went through reconnecting to connected (${log.join(' → ')})`);
  await A.waitForTimeout(300);
  t.eq(await shown(A), before, 'a plain drop changes nothing on screen');

  // 3. A full replay from seq 0: every event arrives again and the client drops them all.
  const dupBefore = await A.evaluate(() => window.monkeytown.client.stats.duplicates);
  await A.evaluate((id) => window.monkeytown.client.resume(id, 0), gameId);
  await A.waitForFunction((n) => window.monkeytown.client.stats.duplicates > n, dupBefore);
  await A.waitForTimeout(200);
  t.eq(await shown(A), before, 'a full replay from seq 0 adds nothing on screen');
  t.ok((await A.evaluate(() => window.monkeytown.client.stats.duplicates)) >= before.seqs.length, 'the client dropped every replayed duplicate');

  // 4. Play on to the end: X takes the top row.
  await play(A, 2);
  await play(B, 9);
  await play(A, 3);
  for (const p of [A, B]) await p.waitForSelector('[data-testid=result]:not([hidden])');
  t.eq((await A.textContent('.result-text')).trim(), 'You win!', 'the game finishes after the drops');
  s = await shown(A);
  t.ok(s.moves === 5 && dupes(s.seqs).length === 0, `Alice's log: 5 moves, nothing twice (${s.seqs.join(',')})`);
  const sb = await shown(B);
  t.ok(sb.moves === 5 && dupes(sb.seqs).length === 0, "Bob's log: 5 moves, nothing twice");
  const contiguous = s.seqs.every((q, i) => i === 0 || q > s.seqs[i - 1]);
  t.ok(contiguous, 'log entries are in seq order');
  await screenshot(A, '30-finished');
  t.eq([...A.errors, ...B.errors], [], 'no script errors on the pages');
});
