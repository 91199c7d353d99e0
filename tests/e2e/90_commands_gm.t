#!/usr/bin/env node
// The command line and the game master's handover on the game screen (docs/web.md).
// 1. A guest plays tic-tac-toe against Chaos Monkey by typing: "/play 5" marks the centre,
//    "/board" answers in the log with the board, "/play 5" again is refused with the game's
//    reason. A game without `command` shows no command line.
// 2. Three guests in a room of Council (tests/integration/fixtures/roles/council, a game with a
//    game master): the creator, the game master, picks the second player in the handover control;
//    everyone's log says so, the "game master" tag moves, the control moves with it, and the new
//    game master sees the omniscient view (the secret).
'use strict';
const path = require('path');
const { Tap, Server, scriptDirs, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes, ROOT } = require('./lib/e2e');

const answers = (page) => page.$$eval('[data-testid=log] li.entry-answer', (lis) => lis.map((li) => li.textContent));

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const council = path.join(ROOT, 'tests', 'integration', 'fixtures', 'roles');
  const { games, agents } = scriptDirs(t, [[path.join(ROOT, 'games'), 'tictactoe'], [path.join(ROOT, 'tests', 'e2e', 'fixtures', 'games'), 'nim'], [council, 'council']], ['random']);
  const server = await new Server([], { games, agents }).start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const A = (await newPage(browser)).page;

  // ---- 1. the command line
  await signInGuest(A, server);
  await A.click('.agent-btn[data-game=tictactoe][data-agent=random]');
  await gameIdOf(A);
  await A.waitForSelector('.ttt.my-turn');
  t.ok(await A.isVisible('[data-testid=command-input]'), 'a game that takes text commands shows a command line');
  t.ok(!(await A.isVisible('[data-testid=gm-handover]')), 'a game without a game master shows no handover control');
  await A.fill('[data-testid=command-input]', '/play 5');
  await A.press('[data-testid=command-input]', 'Enter');
  await A.waitForFunction(() => document.querySelector('.ttt-cell[data-cell="5"]').textContent === 'X');
  t.ok(true, '"/play 5" typed in the command line marks the centre');
  t.eq(await A.inputValue('[data-testid=command-input]'), '', 'the command line is cleared after a command');
  await A.waitForSelector('.ttt.my-turn');
  await A.fill('[data-testid=command-input]', '/board');
  await A.press('[data-testid=command-input]', 'Enter');
  await A.waitForSelector('[data-testid=log] li.entry-answer');
  const [board] = await answers(A);
  t.ok(/^\/board → [.O]{3} \/ [.O]X[.O] \/ [.O]{3} \(you are X\)$/.test(board), `the answer to "/board" shows in the log: ${board}`);
  await A.fill('[data-testid=command-input]', '/play 5');
  await A.press('[data-testid=command-input]', 'Enter');
  await A.waitForFunction(() => /already taken/.test(document.querySelector('.hint').textContent));
  t.ok(true, 'a command whose move is refused says why (the game\'s reason)');
  t.eq(dupes((await logEntries(A)).filter((e) => e.kind !== 'answer').map((e) => e.seq)), [], 'no event shown twice');
  await screenshot(A, '90-command-line');

  // ---- 2. the game master's handover
  await A.goto(server.url + '/');
  await A.waitForSelector('.game-card[data-game=nim]');
  await A.click('.agent-btn[data-game=nim][data-agent=random]');
  await A.waitForSelector('.generic-actions button'); // active, and my turn
  t.ok(!(await A.isVisible('[data-testid=command-input]')), 'a game without commands shows no command line');
  await A.goto(server.url + '/');
  await A.click('.game-card[data-game=council] button[data-action=open]');
  const gameId = await gameIdOf(A);
  const B = (await newPage(browser)).page;
  const C = (await newPage(browser)).page;
  for (const p of [B, C]) {
    await signInGuest(p, server);
    await p.evaluate((id) => (location.hash = `#/game/${id}`), gameId);
    await p.click('button:has-text("Take a seat")');
    await p.waitForSelector('.player.me');
  }
  for (const p of [A, B, C]) await p.waitForSelector('.player.seat-1 [data-testid=gm-tag]');
  t.ok(true, 'everyone sees the creator tagged "game master"');
  t.ok(await A.isVisible('[data-testid=gm-handover]'), 'the game master has the handover control');
  t.ok(!(await B.isVisible('[data-testid=gm-handover]')), 'another player has not');
  t.eq(await A.$$eval('[data-testid=gm-select] option', (o) => o.map((x) => x.value)), ['2', '3'], 'it offers the other two players');
  await A.waitForSelector('.generic-actions button[aria-label="Play hint think"]');
  t.ok(true, 'the game master gets its own actions when another seat is to move');
  await screenshot(A, '90-gm-handover');
  await A.selectOption('[data-testid=gm-select]', '2');
  await A.click('[data-testid=gm-handover] button');
  for (const p of [A, B, C]) {
    await p.waitForSelector('.player.seat-2 [data-testid=gm-tag]');
    await p.waitForSelector('[data-testid=log] li[data-kind=gm]');
  }
  t.ok(/handed the game master role to/.test(await C.textContent('[data-testid=log] li[data-kind=gm]')), 'every log says who handed the role to whom');
  t.eq(await A.$$eval('[data-testid=gm-tag]', (x) => x.length), 1, 'one seat is tagged "game master"');
  await B.waitForSelector('[data-testid=gm-handover]:not([hidden])');
  t.ok(!(await A.isVisible('[data-testid=gm-handover]')), 'the control moved to the new game master');
  await B.waitForFunction(() => /secret/.test(document.querySelector('.board-host').textContent));
  t.ok(!/secret/.test(await A.textContent('.board-host')), 'the new game master sees the omniscient view, the old one no longer does');
  await B.waitForSelector('.generic-actions button[aria-label="Play hint think"]');
  t.eq(await A.$$eval('.generic-actions button', (b) => b.length), 0, 'the game master\'s actions moved too: the old one, not to move, has none');
});
