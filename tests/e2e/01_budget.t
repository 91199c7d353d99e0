#!/usr/bin/env node
// The web client's size budget and the rules its CSP imposes, checked on the files themselves:
// every file under web/ and the repository's game views (games/*/web/) gzipped (level 9, as the
// server does) adds up to at most 200 KB; no inline script, no inline style or event-handler
// attribute, no external resource, no build step (plain ES modules that import only relative
// paths, or, from a game's view, the page's own modules by absolute path).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tap, ROOT } = require('./lib/e2e');

const BUDGET = 200 * 1024;
const WEB = path.join(ROOT, 'web');
const GAMES = path.join(ROOT, 'games');

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

new Tap().run(async (t) => {
  const views = fs.readdirSync(GAMES).map((g) => path.join(GAMES, g, 'web')).filter((d) => fs.existsSync(d));
  const files = [WEB, ...views].flatMap(walk);
  t.ok(files.length > 0 && views.length > 0, `web/ and games/*/web/ have files (${files.length})`);
  let raw = 0;
  let gz = 0;
  const rows = [];
  for (const f of files) {
    const buf = fs.readFileSync(f);
    const z = zlib.gzipSync(buf, { level: 9 }).length;
    raw += buf.length;
    gz += z;
    rows.push([path.relative(ROOT, f), buf.length, z]);
  }
  rows.sort((a, b) => b[2] - a[2]);
  for (const [f, r, z] of rows) t.diag(`${String(z).padStart(7)} B gz  ${String(r).padStart(7)} B  ${f}`);
  t.diag(`total: ${raw} B raw, ${gz} B gzipped (${(gz / 1024).toFixed(1)} KB of ${BUDGET / 1024} KB)`);
  t.ok(gz <= BUDGET, `everything under web/ and games/*/web/ gzips to at most 200 KB (${(gz / 1024).toFixed(1)} KB)`);

  const html = fs.readFileSync(path.join(WEB, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  t.ok(scripts.length > 0 && scripts.every((m) => /\bsrc=/.test(m[1]) && !m[2].trim()), 'index.html has no inline script');
  t.ok(!/<style\b/i.test(html), 'index.html has no <style> element');
  t.ok(!/\sstyle\s*=/i.test(html), 'index.html has no style attribute');
  t.ok(!/\son[a-z]+\s*=/i.test(html), 'index.html has no inline event handler');
  t.ok(!/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html), 'index.html loads nothing from another origin');

  const js = files.filter((f) => f.endsWith('.js'));
  const bad = [];
  for (const f of js) {
    const src = fs.readFileSync(f, 'utf8');
    const view = !f.startsWith(WEB + path.sep);
    for (const m of src.matchAll(/\bimport\s[^'"]*?['"]([^'"]+)['"]/g)) {
      const ok = /^\.{1,2}\//.test(m[1]) || (view && /^\/(?!\/)/.test(m[1]) && fs.existsSync(path.join(WEB, m[1])));
      if (!ok) bad.push(`${path.relative(ROOT, f)}: ${m[1]}`);
    }
    if (/\binnerHTML\s*=|insertAdjacentHTML|document\.write\(|\beval\(|new Function\(/.test(src)) bad.push(`${path.relative(ROOT, f)}: HTML/eval sink`);
    if (/setAttribute\(\s*['"]style['"]/.test(src)) bad.push(`${path.relative(ROOT, f)}: style attribute (blocked by the CSP)`);
  }
  t.ok(!bad.length, "modules import only relative paths (views: the page's modules) and use no HTML or eval sinks", bad.join('\n'));
  const css = files.filter((f) => f.endsWith('.css')).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  t.ok(!/url\(\s*['"]?(https?:)?\/\//i.test(css) && !/@import\s+url\(\s*['"]?https?:/i.test(css), 'CSS loads nothing from another origin');
});
