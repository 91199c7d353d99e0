#!/usr/bin/env node
// A game the web client has no JavaScript for is still playable: the generic view shows its
// state as formatted JSON and offers its legal actions as buttons. The server runs the repository's
// games plus a small Nim written for this test (tests/e2e/fixtures/games/nim), and a guest plays a
// whole game of it against Chaos Monkey (an agent for any game with legal actions). Then an
// agent script changes on disk: the lobby's evolution feed and agent list show the new version
// live (agent_evolved), without a reload.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tap, Server, scriptDirs, ensureDeps, launch, newPage, screenshot, signInGuest, logEntries, dupes, ROOT } = require('./lib/e2e');

new Tap().run(async (t) => {
  const pw = ensureDeps();
  const fixtures = path.join(__dirname, 'fixtures', 'games');
  const { games, agents } = scriptDirs(t, [[path.join(ROOT, 'games'), 'tictactoe'], [fixtures, 'nim']], ['random']);
  const server = await new Server([], { games, agents }).start();
  t.onCleanup(() => server.stop());
  const browser = await launch(pw);
  t.onCleanup(() => browser.close());
  const { page } = await newPage(browser);
  await signInGuest(page, server);

  await page.waitForSelector('.game-card[data-game=nim]');
  t.ok(/Nim/.test(await page.textContent('.game-card[data-game=nim]')), 'the new game is in the catalog');
  await page.click('.agent-btn[data-game=nim][data-agent=random]');
  await page.waitForSelector('.board-host[data-view=generic] .generic-state');
  t.ok(true, 'a game without its own view gets the generic one');
  const state = JSON.parse(await page.textContent('.generic-state'));
  t.eq(state.pile, 7, 'its state is shown as JSON');
  await page.waitForSelector('.generic-actions button');
  const labels = await page.$$eval('.generic-actions button', (b) => b.map((x) => x.textContent));
  t.eq(labels, ['take 1', 'take 2', 'take 3'], 'its legal actions are buttons');
  await screenshot(page, '70-generic');

  let moves = 0;
  for (let i = 0; i < 8; i++) {
    await page.waitForFunction(() => !document.querySelector('[data-testid=result]').hidden || document.querySelector('.generic-actions button'));
    if (await page.isVisible('[data-testid=result]')) break;
    const before = JSON.parse(await page.textContent('.generic-state')).pile;
    await page.click('.generic-actions button >> nth=0');
    moves++;
    await page.waitForFunction((b) => JSON.parse(document.querySelector('.generic-state').textContent).pile < b, before);
  }
  await page.waitForSelector('[data-testid=result]:not([hidden])');
  t.ok(moves >= 2, `a whole game played with the buttons (${moves} moves): ${(await page.textContent('.result-text')).trim()}`);
  t.eq(JSON.parse(await page.textContent('.generic-state')).pile, 0, 'the final state shows the empty pile');
  const entries = await logEntries(page);
  t.ok(entries.some((e) => e.kind === 'move' && /take \d/.test(e.text)), 'moves are described in the log');
  t.eq(dupes(entries.map((e) => e.seq)), [], 'nothing shown twice');
  await screenshot(page, '70-generic-over');

  // Evolution: Chaos Monkey's script changes; the lobby shows the new version as it happens.
  await page.click('a.brand');
  await page.waitForSelector('[data-testid=agents] li.agent[data-agent=random]');
  const oldVersion = (await page.textContent('[data-testid=agents] li.agent[data-agent=random] .version')).trim();
  fs.appendFileSync(path.join(agents, 'random.lua'), '\n-- evolved by the end-to-end test\n');
  await page.waitForSelector('[data-testid=evolution-feed] li[data-agent=random]', { timeout: 20000 });
  const feed = await page.textContent('[data-testid=evolution-feed] li[data-agent=random]');
  const newVersion = (await page.textContent('[data-testid=agents] li.agent[data-agent=random] .version')).trim();
  t.ok(/Chaos Monkey \(random\) evolved to v [0-9a-f]{8}/.test(feed), `the evolution feed shows the new version live: ${feed.trim()}`);
  t.ok(newVersion !== oldVersion && feed.includes(newVersion.slice(2)), `the agent list moves to it (${oldVersion} → ${newVersion})`);
  await screenshot(page, '70-evolution');
  t.eq(page.errors, [], 'no script errors on the page');
});
