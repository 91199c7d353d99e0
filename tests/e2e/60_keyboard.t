#!/usr/bin/env node
// Keyboard only, no mouse: sign in as a guest with Enter, Tab to "play tic-tac-toe against Chaos
// Monkey", press Enter; the board takes the focus; arrows move between cells (one cell in the Tab
// order, a visible focus ring), Enter or Space plays; the whole game is played this way.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, logEntries, dupes } = require('./lib/e2e');

const focused = (page) =>
  page.evaluate(() => {
    const a = document.activeElement;
    return a ? { tag: a.tagName, cell: a.dataset.cell ? Number(a.dataset.cell) : null, game: a.dataset.game, agent: a.dataset.agent, id: a.id } : null;
  });

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page } = await newPage(browser);

  await page.goto(server.url + '/');
  await page.waitForSelector('#guest-btn');
  t.eq((await focused(page)).id, 'guest-btn', 'the guest button has the focus at the start');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.agent-btn[data-game=tictactoe][data-agent=random]');
  await page.waitForSelector('#conn[data-status=connected]');

  let found = false;
  for (let i = 0; i < 80 && !found; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    found = f && f.game === 'tictactoe' && f.agent === 'random';
  }
  t.ok(found, 'Tab reaches "play tic-tac-toe against Chaos Monkey"');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.ttt.my-turn .ttt-cell.legal');
  await page.waitForFunction(() => document.activeElement && document.activeElement.classList.contains('ttt-cell'));
  t.ok(true, 'the board takes the focus when the game starts');
  t.eq(await page.$$eval('.ttt-cell', (c) => c.filter((x) => x.tabIndex === 0).length), 1, 'one cell is in the Tab order (roving tabindex)');
  await page.keyboard.press('ArrowRight');
  t.eq((await focused(page)).cell, 2, 'ArrowRight moves to the next cell');
  await page.keyboard.press('ArrowDown');
  t.eq((await focused(page)).cell, 5, 'ArrowDown moves down a row');
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).boxShadow);
  t.ok(ring && ring !== 'none', 'the focused cell has a visible focus ring');
  await screenshot(page, '60-keyboard-focus');

  let moves = 0;
  for (let turn = 0; turn < 5; turn++) {
    await page.waitForFunction(() => !document.querySelector('[data-testid=result]').hidden || document.querySelector('.ttt.my-turn .ttt-cell.legal'));
    if (await page.isVisible('[data-testid=result]')) break;
    const legal = await page.$$eval('.ttt-cell.legal', (c) => c.map((x) => Number(x.dataset.cell)));
    let at = (await focused(page)).cell;
    if (!at) {
      // focus left the board (it never should); come back with Tab
      for (let i = 0; i < 40 && !at; i++) {
        await page.keyboard.press('Tab');
        at = (await focused(page)).cell;
      }
    }
    const target = legal[legal.length - 1];
    const [r0, c0] = [Math.floor((at - 1) / 3), (at - 1) % 3];
    const [r1, c1] = [Math.floor((target - 1) / 3), (target - 1) % 3];
    for (let i = 0; i < (c1 - c0 + 3) % 3; i++) await page.keyboard.press('ArrowRight');
    for (let i = 0; i < (r1 - r0 + 3) % 3; i++) await page.keyboard.press('ArrowDown');
    t.eq((await focused(page)).cell, target, `arrows reach cell ${target}`);
    await page.keyboard.press(moves % 2 ? ' ' : 'Enter');
    await page.waitForFunction((c) => document.querySelector(`.ttt-cell[data-cell="${c}"]`).textContent === 'X', target);
    moves++;
  }
  await page.waitForSelector('[data-testid=result]:not([hidden])');
  t.ok(moves >= 3, `a whole game played with the keyboard (${moves} moves, Enter and Space): ${(await page.textContent('.result-text')).trim()}`);
  t.eq(dupes((await logEntries(page)).map((e) => e.seq)), [], 'nothing shown twice');
  let rematch = false;
  for (let i = 0; i < 30 && !rematch; i++) {
    await page.keyboard.press('Tab');
    rematch = await page.evaluate(() => document.activeElement && document.activeElement.textContent === 'Rematch');
  }
  t.ok(rematch, 'Tab reaches the rematch button');
  await screenshot(page, '60-keyboard-over');
  t.eq(page.errors, [], 'no script errors on the page');
});
