#!/usr/bin/env node
// A reload keeps the same player: the token is kept in localStorage and reused, so the player id
// shown in the header does not change. A reload in the middle of a game comes back to the same
// seat with the board and the log as they were (nothing twice), and the game can be finished.
// With accounts (POST /api/auth/register and /login): register, reload, sign out, sign in again:
// always the same player; a taken name and a wrong password are explained.
'use strict';
const { Tap, Server, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, logEntries, dupes } = require('./lib/e2e');

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const server = await new Server().start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page } = await newPage(browser);

  const id = await signInGuest(page, server);
  const name = (await page.textContent('#me-name')).trim();
  await page.reload();
  await page.waitForSelector('#conn[data-status=connected]');
  t.eq(await page.getAttribute('#me-id', 'data-player-id'), id, 'after a reload the same player id is shown');
  t.eq((await page.textContent('#me-name')).trim(), name, 'and the same name');
  t.ok(await page.isHidden('#view-signin'), 'no sign-in screen after the reload');

  // A reload in the middle of a game.
  await page.click('.agent-btn[data-game=tictactoe][data-agent=random]');
  const gameId = await gameIdOf(page);
  await page.waitForSelector('.ttt.my-turn .ttt-cell.legal');
  await page.click('.ttt-cell[data-cell="5"]');
  await page.waitForFunction(() => [...document.querySelectorAll('.ttt-cell')].some((c) => c.textContent === 'O') && document.querySelector('.ttt.my-turn')); // the agent answered
  const before = await logEntries(page);
  await page.reload();
  await page.waitForSelector('#conn[data-status=connected]');
  t.eq(await page.evaluate(() => location.hash), `#/game/${gameId}`, 'the reload stays on the game');
  await page.waitForSelector('.ttt-cell[data-cell="5"]:has-text("X")');
  t.ok(/you are X/.test(await page.textContent('.game-meta')), 'back in my seat (X)');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=log] li.entry').length >= n, before.length);
  const after = await logEntries(page);
  t.eq(after.map((e) => e.seq), before.map((e) => e.seq), 'the log is replayed as it was, nothing twice');
  t.ok(await page.isVisible('.ttt.my-turn'), 'and it is my turn');
  await screenshot(page, '40-after-reload');
  for (let i = 0; i < 5; i++) {
    await page.waitForFunction(() => !document.querySelector('[data-testid=result]').hidden || document.querySelector('.ttt.my-turn .ttt-cell.legal'));
    if (await page.isVisible('[data-testid=result]')) break;
    const c = await page.getAttribute('.ttt-cell.legal', 'data-cell');
    await page.click(`.ttt-cell[data-cell="${c}"]`);
    await page.waitForFunction((x) => document.querySelector(`.ttt-cell[data-cell="${x}"]`).textContent === 'X', c);
  }
  await page.waitForSelector('[data-testid=result]:not([hidden])');
  t.ok(true, `the game is finished after the reload: ${(await page.textContent('.result-text')).trim()}`);
  t.eq(dupes((await logEntries(page)).map((e) => e.seq)), [], 'nothing shown twice');

  // Accounts.
  const probe = await server.post('/api/auth/login', { username: 'nobody-here', password: 'not-a-password' });
  if (probe.status === 404) {
    t.skip('register, reload, sign out and sign in keep one player', 'the server has no /api/auth endpoints');
  } else {
    const user = `e2e${Date.now().toString(36)}`;
    const { page: p2 } = await newPage(browser);
    await p2.goto(server.url + '/');
    await p2.fill('#username', user);
    await p2.fill('#password', 'correct horse battery');
    await p2.click('#account-form button[value=register]');
    await p2.waitForSelector('#me-id[data-player-id]');
    const uid = await p2.getAttribute('#me-id', 'data-player-id');
    t.eq((await p2.textContent('#me-name')).trim(), user, `registered as ${user}`);
    await p2.reload();
    await p2.waitForSelector('#conn[data-status=connected]');
    t.eq(await p2.getAttribute('#me-id', 'data-player-id'), uid, 'the account survives a reload');
    await p2.click('#signout');
    await p2.waitForSelector('#view-signin:not([hidden])');
    t.ok(true, 'signing out shows the sign-in screen');
    await p2.fill('#username', user);
    await p2.fill('#password', 'wrong password!');
    await p2.click('#account-form button[value=login]');
    await p2.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
    t.ok(/wrong username or password/i.test(await p2.textContent('#signin-error')), `a wrong password is explained: ${await p2.textContent('#signin-error')}`);
    await p2.fill('#password', 'correct horse battery');
    await p2.click('#account-form button[value=register]');
    await p2.waitForFunction(() => /taken/.test(document.getElementById('signin-error').textContent));
    t.ok(true, `a taken name is explained: ${await p2.textContent('#signin-error')}`);
    await screenshot(p2, '40-signin-error');
    await p2.click('#account-form button[value=login]');
    await p2.waitForSelector('#view-lobby:not([hidden])');
    t.eq(await p2.getAttribute('#me-id', 'data-player-id'), uid, 'signing in again gives the same player');
    t.eq(p2.errors, [], 'no script errors on the account page');
  }
  t.eq(page.errors, [], 'no script errors on the page');
});
