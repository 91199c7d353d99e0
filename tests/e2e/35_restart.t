#!/usr/bin/env node
// A game goes on across a server crash. Alice and Bob play tic-tac-toe in two browsers; after two
// moves the server is killed with SIGKILL and started again on the same port and data directory.
// Both pages reconnect by themselves, resume the rebuilt game, show the board as it was with
// nothing twice or missing, and the game is played to the end.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes } = require('./lib/e2e');

const myTurn = (page) => page.waitForSelector('.ttt.my-turn .ttt-cell.legal', { timeout: 20000 });

async function play(page, cell, mark) {
  await myTurn(page);
  await page.click(`.ttt-cell[data-cell="${cell}"]`);
  await page.waitForSelector(`.ttt-cell[data-cell="${cell}"]:has-text("${mark}")`);
}

const board = (page) => page.$$eval('.ttt-cell', (cells) => cells.map((c) => c.textContent.trim()).join(''));

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const A = (await newPage(browser)).page;
  const B = (await newPage(browser)).page;
  await signInGuest(A, server);
  await signInGuest(B, server);

  await A.click('.game-card[data-game=tictactoe] button[data-action=open]');
  const gameId = await gameIdOf(A);
  await B.locator(`tr[data-game-id="${gameId}"] button[data-action=join]`).click();
  await B.waitForSelector('.ttt');
  await play(A, 1, 'X');
  await B.waitForSelector('.ttt-cell[data-cell="1"]:has-text("X")');
  await play(B, 5, 'O');
  await A.waitForSelector('.ttt-cell[data-cell="5"]:has-text("O")');
  const before = await board(A);
  const shownBefore = (await logEntries(A)).length;

  await server.crashAndRestart();
  t.ok(true, 'the server was killed with SIGKILL and started again');
  for (const [name, page] of [['Alice', A], ['Bob', B]]) {
    await page.waitForSelector('#conn[data-status=connected]', { timeout: 30000 });
    t.ok(true, `${name}'s page reconnected by itself`);
  }
  await myTurn(A);
  t.eq(await board(A), before, "Alice's board is the one before the crash, and it is her turn");
  t.eq(await board(B), before, "Bob's too");
  const after = await logEntries(A);
  t.eq(dupes(after.map((e) => e.seq)), [], 'no log entry shown twice after the resume');
  t.eq(after.length, shownBefore, 'and none missing or added');
  t.ok(!(await A.isVisible('[data-testid=result]')), 'the game is still running');
  await screenshot(A, '35-after-restart');

  await play(A, 2, 'X');
  await B.waitForSelector('.ttt-cell[data-cell="2"]:has-text("X")');
  t.ok(true, "Bob sees Alice's first move after the restart");
  await play(B, 9, 'O');
  await play(A, 3, 'X');
  for (const page of [A, B]) await page.waitForSelector('[data-testid=result]:not([hidden])');
  t.ok(/win|won/i.test(await A.textContent('[data-testid=result]')), 'Alice wins the game that survived the crash');
  const final = await logEntries(B);
  t.eq(dupes(final.map((e) => e.seq)), [], "Bob's log has every entry once");
  t.eq(final.filter((e) => e.kind === 'move').length, 5, 'all five moves shown');
  await screenshot(A, '35-finished');
});
