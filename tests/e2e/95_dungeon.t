#!/usr/bin/env node
// Distributed Dungeon (games/dungeon) in two browsers: a DM and a player in a room of two seats
// (`{"seats":2}`: the DM plays the monsters, so no agent is involved). The DM panel shows on the
// DM's page only; the player rolls with the game screen's command line; the DM spawns a goblin
// and starts the fight from the panel; both pages show the initiative order and whose turn it
// is; when it is the goblin's turn the DM ends it from its page, and on the hero's turn the
// player attacks the goblin with the view's button; the log shows the attack and its roll.
'use strict';
const path = require('path');
const { Tap, Server, scriptDirs, ensureDeps, launch, newPage, screenshot, signInGuest, gameIdOf, ROOT } = require('./lib/e2e');

/** The bearer token the page keeps for its guest (the one session in its localStorage). */
const tokenOf = (page) =>
  page.evaluate(() => {
    for (let i = 0; i < localStorage.length; i++) {
      try {
        const v = JSON.parse(localStorage.getItem(localStorage.key(i)));
        if (v && typeof v.token === 'string') return v.token;
      } catch {
        /* not a session */
      }
    }
    return null;
  });

/** The id of the creature whose turn it is (the initiative order's current entry). */
const currentOn = (page) => page.$eval('.dd-order li.dd-current', (li) => li.dataset.id);
const logText = (page) => page.$$eval('.dd-log li', (lis) => lis.map((li) => li.textContent));

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const { games, agents } = scriptDirs(t, [[path.join(ROOT, 'games'), 'dungeon']], ['random']);
  const server = await new Server([], { games, agents }).start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const DM = (await newPage(browser)).page;
  const P = (await newPage(browser)).page;

  // ---- a room of two seats: the DM (seat 1, its creator) and one hero
  await signInGuest(DM, server);
  const token = await tokenOf(DM);
  t.ok(token, 'the DM page keeps its guest session');
  const r = await server.post('/api/games/create', { game: 'dungeon', config: { seats: 2 } }, { Authorization: `Bearer ${token}` });
  t.eq(r.status, 200, 'the DM creates a dungeon room of two seats');
  const gameId = r.body && r.body.gameId;
  await DM.evaluate((id) => (location.hash = `#/game/${id}`), gameId);
  t.eq(await gameIdOf(DM), gameId, 'the DM page opens the room');
  await signInGuest(P, server);
  await P.evaluate((id) => (location.hash = `#/game/${id}`), gameId);
  await P.click('button:has-text("Take a seat")');
  await P.waitForSelector('.player.me');
  for (const p of [DM, P]) await p.waitForSelector('.board-host[data-view=dungeon] .dd-turn:has-text("Exploring")');
  t.ok(true, "both pages mount the dungeon's own view and say the party is exploring");

  // ---- the DM panel is the DM's only
  await DM.waitForSelector('[data-testid=dd-dm]:not([hidden])');
  t.ok(await DM.isVisible('[data-testid=dd-dm] .dd-spawn'), 'the DM sees the DM panel with its spawn control');
  t.ok(!(await P.isVisible('[data-testid=dd-dm]')), 'the player does not see the DM panel');

  // ---- text commands go through the game screen's command line
  await P.waitForSelector('[data-testid=command-input]');
  await P.fill('[data-testid=command-input]', '/roll 2d6+3');
  await P.press('[data-testid=command-input]', 'Enter');
  await P.waitForFunction(() => [...document.querySelectorAll('.dd-log li')].some((li) => /rolls 2d6\+3: .*\[roll \d+\]/.test(li.textContent)));
  t.ok(true, '"/roll 2d6+3" typed in the command line shows its dice and total in the log');
  t.eq(await P.inputValue('[data-testid=command-input]'), '', 'the command line is cleared');

  // ---- the DM spawns a goblin and starts the fight from the panel
  await DM.selectOption('[data-testid=dd-dm] select', 'goblin');
  await DM.click('[data-testid=dd-dm] .dd-spawn');
  for (const p of [DM, P]) await p.waitForSelector('.dd-monsters li[data-id=goblin-1]');
  t.ok(true, 'the spawned goblin shows on both pages');
  t.ok((await logText(P)).some((l) => /The DM brings in goblin 1/.test(l)), "the player's log says the DM brought it in");
  await DM.click('[data-testid=dd-dm] .dd-fight');
  for (const p of [DM, P]) await p.waitForFunction(() => document.querySelectorAll('.dd-order li').length === 2 && document.querySelector('.dd-order li.dd-current'));
  t.eq((await P.$$eval('.dd-order li', (lis) => lis.map((li) => li.dataset.id))).sort(), ['goblin-1', 'p2'], 'the initiative order holds the hero and the goblin');
  t.ok(/^Round 1: .+'s turn/.test(await P.textContent('.dd-turn')), `the turn line says whose turn it is: ${await P.textContent('.dd-turn')}`);

  // ---- the goblin's turn (when it comes first): the DM ends it from its page
  if ((await currentOn(P)) === 'goblin-1') {
    await DM.waitForSelector('.dd-turn:has-text("(yours)")');
    t.ok(true, "the DM's page says the goblin's turn is the DM's");
    await DM.click('.dd-legal button >> text="end"');
    await P.waitForSelector('.dd-order li.dd-current[data-id=p2]');
  } else {
    t.ok(!/\(yours\)/.test(await DM.textContent('.dd-turn')), "the hero's turn is not the DM's");
  }

  // ---- the hero's turn: the player attacks the goblin with the view's button
  await P.waitForSelector('.dd-turn:has-text("(yours)")');
  await DM.waitForSelector('.dd-order li.dd-current[data-id=p2]');
  t.ok(!/\(yours\)/.test(await DM.textContent('.dd-turn')), "the DM's page shows the hero's turn too, not as the DM's");
  await screenshot(P, '95-dungeon-hero-turn', { fullPage: true });
  await P.click('.dd-legal button >> text="attack goblin-1"');
  await P.waitForFunction(() => [...document.querySelectorAll('.dd-log li')].some((li) => /(attacks|hits) goblin 1 with/.test(li.textContent)));
  const log = await logText(P);
  t.ok(log.some((l) => /rolls .+ attack on goblin 1: .*\[roll \d+\]/.test(l)), 'the log shows the attack roll with its dice');
  const attack = log.find((l) => /(attacks|hits) goblin 1 with/.test(l));
  t.ok(/misses\.$|for \d+ damage/.test(attack), `and the attack's outcome: ${attack}`);
  await DM.waitForFunction((line) => [...document.querySelectorAll('.dd-log li')].some((li) => li.textContent === line), attack);
  t.ok(true, "the DM's log shows the same attack");
  await screenshot(DM, '95-dungeon-dm', { fullPage: true });
  t.eq([...DM.errors, ...P.errors], [], 'no page errors');
});
