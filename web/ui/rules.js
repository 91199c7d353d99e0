// A game's rules, when its folder ships them (games/<name>/rules.md, served at
// /games/<name>/rules.md): fetched once per page and drawn from a small Markdown subset
// (# headings, paragraphs, - and 1. lists, `code`, **bold**, *emphasis*). Everything goes in as
// text nodes: the file can never become markup.
import { h } from './dom.js';

const texts = new Map(); // game name -> Promise<string|null>

/** The rules' text, or null when the game has none. */
export function loadRules(game) {
  if (!texts.has(game)) {
    const url = `/games/${encodeURIComponent(game)}/rules.md`;
    texts.set(
      game,
      fetch(url, { cache: 'no-cache' })
        .then((r) => (r.ok ? r.text() : null))
        .catch(() => null),
    );
  }
  return texts.get(game);
}

/** A <details> "How to play" that appears once the rules have loaded (stays hidden without). */
export function rulesPanel(game, cls = '') {
  const body = h('div', { class: 'rules-text' });
  const el = h('details', { class: `rules ${cls}`, hidden: true, dataset: { rules: game } }, h('summary', null, 'How to play'), body);
  loadRules(game).then((text) => {
    if (!text) return;
    body.append(...renderMarkdown(text));
    el.hidden = false;
  });
  return el;
}

/** Block elements for a Markdown text (the subset above). */
export function renderMarkdown(text) {
  const out = [];
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) out.push(h('p', null, inline(para.join(' '))));
    para = [];
  };
  for (const raw of String(text).split(/\r?\n/)) {
    const line = raw.trim();
    const heading = line.match(/^(#{1,3})\s+(.*)$/);
    const item = line.match(/^(?:[-*]|(\d+)\.)\s+(.*)$/);
    if (!line || heading || item) flush();
    if (!item) list = null;
    if (heading) out.push(h(`h${heading[1].length + 3}`, null, inline(heading[2])));
    else if (item) {
      const tag = item[1] ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) out.push((list = h(tag)));
      list.append(h('li', null, inline(item[2])));
    } else if (line) para.push(line);
  }
  flush();
  return out;
}

/** Text with `code`, **bold** and *emphasis* as nodes. */
function inline(text) {
  return text.split(/(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*)/).map((part) => {
    if (/^`.+`$/.test(part)) return h('code', null, part.slice(1, -1));
    if (/^\*\*.+\*\*$/.test(part)) return h('strong', null, part.slice(2, -2));
    if (/^\*.+\*$/.test(part)) return h('em', null, part.slice(1, -1));
    return part;
  });
}
