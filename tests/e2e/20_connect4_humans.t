#!/usr/bin/env node
// Two browser contexts (two guests) play Connect Four against each other while a third watches:
// Alice opens a room, Bob sees it appear in his lobby live and joins, Carol watches. They chat
// (everyone sees every line once), Alice wins with four in a column, and the watcher sees every
// move and the result.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes } = require('./lib/e2e');

const myTurn = (page) => page.waitForSelector('.c4.my-turn .c4-col.legal');
const discs = (page) => page.$$eval('.c4-slot.p1, .c4-slot.p2', (s) => s.length);

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const A = (await newPage(browser)).page;
  const B = (await newPage(browser)).page;
  const C = (await newPage(browser)).page;

  const ids = [await signInGuest(A, server), await signInGuest(B, server), await signInGuest(C, server)];
  t.eq(new Set(ids).size, 3, 'three browser contexts are three different players');

  await A.click('.game-card[data-game=connect4] button[data-action=open]');
  const gameId = await gameIdOf(A);
  await A.waitForSelector('.c4');
  t.ok(/Waiting for players \(1\/2\)/.test(await A.textContent('[data-testid=turn-line]')), 'the room waits for a second player');

  const row = (p) => p.locator(`tr[data-game-id="${gameId}"]`);
  await row(B).waitFor();
  t.ok(/waiting/.test(await row(B).textContent()), "the new room appears live in Bob's lobby");
  await screenshot(B, '20-lobby-open-room');
  await row(B).locator('button[data-action=join]').click();
  await B.waitForSelector('.c4');
  await row(C).locator('button[data-action=watch]').click();
  await C.waitForSelector('.c4');
  t.ok(/watching/.test(await C.textContent('.game-meta')), 'Carol watches');

  await A.waitForFunction(() => document.querySelectorAll('[data-testid=players] li').length === 2);
  await myTurn(A);
  t.ok(/Your turn/.test(await A.textContent('[data-testid=turn-line]')), 'Alice (seat 1, red) moves first');
  t.ok(/turn/.test(await B.textContent('[data-testid=turn-line]')) && !(await B.$('.c4.my-turn')), "Bob sees it is Alice's turn");

  // Chat: Alice, then Bob; everyone sees both lines, once, in order.
  await A.fill('.chat-input', 'good luck!');
  await A.press('.chat-input', 'Enter');
  await B.waitForSelector('[data-testid=chat] li:has-text("good luck!")');
  await B.fill('.chat-input', 'you too');
  await B.click('.chat-form button[type=submit]');
  for (const [p, who] of [[A, 'Alice'], [B, 'Bob'], [C, 'Carol']]) {
    await p.waitForFunction(() => document.querySelectorAll('[data-testid=chat] li').length >= 2);
    const lines = await p.$$eval('[data-testid=chat] li .chat-text', (l) => l.map((x) => x.textContent));
    t.eq(lines, ['good luck!', 'you too'], `${who} sees both chat lines once, in order`);
  }
  const fromC = await C.$$eval('[data-testid=chat] li .chat-from', (l) => l.map((x) => x.textContent));
  t.ok(fromC[0].startsWith('Guest-') && fromC[1].startsWith('Guest-') && fromC[0] !== fromC[1], 'the watcher sees who said what');

  // Alice stacks column 1, Bob column 2: Alice's fourth disc wins.
  for (let i = 0; i < 4; i++) {
    await myTurn(A);
    await A.click('.c4-col[data-column="1"]');
    if (i === 3) break;
    await myTurn(B);
    await B.click('.c4-col[data-column="2"]');
    if (i === 1) {
      await C.waitForFunction(() => document.querySelectorAll('.c4-slot.p1, .c4-slot.p2').length === 4);
      t.eq(await discs(C), 4, 'the watcher sees the moves as they happen');
      await screenshot(C, '20-watcher-midgame');
    }
  }
  for (const p of [A, B, C]) await p.waitForSelector('[data-testid=result]:not([hidden])');
  t.eq((await A.textContent('.result-text')).trim(), 'You win!', 'Alice sees she won');
  t.ok(/wins\./.test(await B.textContent('.result-text')) && (await B.getAttribute('[data-testid=result]', 'class')).includes('lost'), 'Bob sees Alice won');
  t.ok(/\(Red\) wins\./.test(await C.textContent('.result-text')), 'the watcher sees the result');
  t.eq(await discs(C), 7, 'the watcher saw all seven discs');
  t.eq(await C.$$eval('.c4-slot.win', (s) => s.length), 4, 'the winning four are highlighted');
  t.eq(await C.$$eval('.c4-slot.last', (s) => s.length), 1, 'the last disc is marked');
  for (const [p, who] of [[A, 'Alice'], [B, 'Bob'], [C, 'Carol']]) {
    const entries = await logEntries(p);
    const moves = entries.filter((e) => e.kind === 'move');
    t.ok(moves.length === 7 && dupes(entries.map((e) => e.seq)).length === 0, `${who}'s log shows the 7 moves, nothing twice`, entries);
  }
  t.ok(await C.isHidden('.result button:has-text("Rematch")'), 'a watcher gets no rematch button');
  await screenshot(A, '20-alice-won');
  await screenshot(B, '20-bob-lost');
  await screenshot(C, '20-watcher-result');
  t.eq([...A.errors, ...B.errors, ...C.errors], [], 'no script errors on the pages');
});
