#!/usr/bin/env node
// A game web/ knows nothing about ships its own browser view and rules in its folder
// (tests/e2e/fixtures/games/countup: web/view.js, web/view.css, rules.md). The lobby shows its
// rules; the game screen loads its view from the server (/games/countup/web/view.js) with its
// stylesheet, marks the seats and words the moves its way (seatMark, describeAction); a guest
// plays a whole game with the view's buttons against Chaos Monkey. Nim, beside it, ships
// nothing: no rules are shown and it gets the generic view.
'use strict';
const path = require('path');
const { Tap, Server, scriptDirs, ensureDeps, launch, newPage, screenshot, signInGuest, logEntries, dupes } = require('./lib/e2e');

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const fixtures = path.join(__dirname, 'fixtures', 'games');
  const { games, agents } = scriptDirs(t, [[fixtures, 'countup'], [fixtures, 'nim']], ['random']);
  const server = await new Server([], { games, agents }).start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page } = await newPage(browser);
  await signInGuest(page, server);

  // The lobby: the rules of the game that ships them, none for the one that does not.
  const card = '.game-card[data-game=countup]';
  await page.waitForSelector(`${card} details.rules:not([hidden])`);
  await page.click(`${card} details.rules summary`);
  t.eq((await page.textContent(`${card} .rules-text h4`)).trim(), 'Count Up', 'the lobby card shows the rules, their heading as a heading');
  t.eq(await page.$$eval(`${card} .rules-text li`, (li) => li.length), 2, 'the rules list is a list');
  t.eq((await page.textContent(`${card} .rules-text code`)).trim(), '10', 'inline code is code');
  t.ok(await page.$eval('.game-card[data-game=nim] details.rules', (d) => d.hidden), 'a game without rules.md shows no rules');
  await screenshot(page, '80-lobby-rules', { fullPage: true });

  // The game: the folder's own view, its stylesheet, its marks and its words.
  await page.click('.agent-btn[data-game=countup][data-agent=random]');
  await page.waitForSelector('.board-host[data-view=countup] .countup-total');
  t.ok(true, "the game screen mounts the game folder's own view");
  await page.waitForFunction(() => getComputedStyle(document.querySelector('.countup-total')).color === 'rgb(255, 204, 51)');
  t.ok(true, "the view's stylesheet (web/view.css) is applied");
  await page.waitForSelector('[data-testid=players] li.seat-1 .mark');
  t.eq((await page.textContent('[data-testid=players] li.seat-1 .mark')).trim(), '☀', "the players list draws the view's glyph");
  t.eq(await page.$eval('[data-testid=players] li.seat-1 .mark', (m) => m.style.color), 'rgb(255, 204, 51)', "in the view's colour");
  t.ok(/you are Sun/.test(await page.textContent('.game-meta')), "the seat is named by the view's seatMark");
  await page.waitForSelector('.game-side details.rules:not([hidden])');
  t.ok(true, 'the game screen offers the rules too');

  let moves = 0;
  for (let i = 0; i < 10; i++) {
    await page.waitForFunction(() => !document.querySelector('[data-testid=result]').hidden || document.querySelector('.countup-add'));
    if (await page.isVisible('[data-testid=result]')) break;
    const before = Number(await page.textContent('.countup-total'));
    await page.click('.countup-add >> nth=0');
    moves++;
    await page.waitForFunction((b) => Number(document.querySelector('.countup-total').textContent) > b, before);
  }
  await page.waitForSelector('[data-testid=result]:not([hidden])');
  t.ok(moves >= 2, `a whole game played with the view's buttons (${moves} moves): ${(await page.textContent('.result-text')).trim()}`);
  t.eq(Number(await page.textContent('.countup-total')), 10, 'the final total is 10');
  const entries = await logEntries(page);
  t.ok(entries.some((e) => e.kind === 'move' && /\(Sun\) adds [12]/.test(e.text)), "moves are worded by the view's describeAction");
  t.eq(dupes(entries.map((e) => e.seq)), [], 'nothing shown twice');
  await screenshot(page, '80-game-over');

  // Nim ships no view: the generic one, as before.
  await page.click('a.brand');
  await page.click('.agent-btn[data-game=nim][data-agent=random]');
  await page.waitForSelector('.board-host[data-view=generic] .generic-state');
  t.ok(true, 'a game without web/view.js gets the generic view');
  t.eq(page.errors, [], 'no script errors on the page');
});
