// Which board view a game gets. A game folder may ship its own: games/<name>/web/view.js, served
// by the server at /games/<name>/web/view.js for games in the catalog (docs/scripting.md, "What a
// game folder may contain"). A game without one gets the generic view (its state as JSON, its
// legal actions as buttons). Nothing here knows any game by name.
//
// A view module exports createView(root, api) -> {update(gameState), focus(), destroy()}, and
// may export seatMark(seat, gameState) -> {text, glyph?, color?}, describeAction(action) ->
// string|undefined, and stylesheet (a CSS file beside the module, loaded once).
import * as generic from '../views/generic.js';

const loaded = new Map(); // game name -> Promise<{mod, own}>

/** The view of a game: {mod, own} with own true when the game folder shipped it. Loaded once
 *  per page; a module that exists but fails to load is reported on the console and replaced by
 *  the generic view. */
export function loadView(game) {
  if (!loaded.has(game)) loaded.set(game, importView(game));
  return loaded.get(game);
}

async function importView(game) {
  const url = new URL(`/games/${encodeURIComponent(game)}/web/view.js`, location.href);
  try {
    // Ask first, so a game without a view (a 404) logs no failed module load on the console.
    const head = await fetch(url, { method: 'HEAD', cache: 'no-cache' });
    if (!head.ok) return { mod: generic, own: false };
    const mod = await import(url.href);
    if (typeof mod.createView !== 'function') throw new Error('it exports no createView');
    if (typeof mod.stylesheet === 'string') addStylesheet(new URL(mod.stylesheet, url));
    return { mod, own: true };
  } catch (e) {
    console.error(`monkeytown: the view of ${game} did not load (${e.message}); showing the generic view`);
    return { mod: generic, own: false };
  }
}

function addStylesheet(url) {
  if (url.origin !== location.origin) return; // the page's CSP would refuse it anyway
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = url.href;
  document.head.append(link);
}
