// Helpers for the end-to-end tests of the web client: install what they need (Debian's chromium,
// playwright-core from npm), speak TAP, start the real server on a free port with its own data
// directory (or a cluster of them behind nginx), drive chromium, and save screenshots to
// tests/e2e/output/.
//
// Every test is a standalone `#!/usr/bin/env node` .t script, so `prove tests/e2e/*.t` runs them.
// The server binary is $MT_BIN, else build/monkeytown under the repository root.
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');

const E2E = path.resolve(__dirname, '..');
const ROOT = path.resolve(E2E, '..', '..');
const OUT = path.join(E2E, 'output');
const BIN = process.env.MT_BIN || path.join(ROOT, 'build', 'monkeytown');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// ---------------------------------------------------------------- TAP

class Tap {
  constructor() {
    this.n = 0;
    this.failed = 0;
    this.cleanups = [];
  }

  ok(cond, name, diag) {
    this.n++;
    console.log(`${cond ? 'ok' : 'not ok'} ${this.n} - ${name}`);
    if (!cond) {
      this.failed++;
      // On stderr, as Test::More does: prove shows it without -v, so a CI log says why.
      console.error(`#   Failed test ${this.n} - ${name}`);
      if (diag !== undefined) {
        const text = typeof diag === 'string' ? diag : JSON.stringify(diag, null, 2);
        for (const line of text.split('\n')) console.error(`#   ${line}`);
      }
    }
    return !!cond;
  }

  eq(got, want, name) {
    const g = JSON.stringify(got);
    const w = JSON.stringify(want);
    return this.ok(g === w, name, `got:  ${g}\nwant: ${w}`);
  }

  skip(name, why) {
    this.n++;
    console.log(`ok ${this.n} - ${name} # SKIP ${why}`);
  }

  diag(text) {
    for (const line of String(text).split('\n')) console.log(`# ${line}`);
  }

  onCleanup(fn) {
    this.cleanups.unshift(fn);
  }

  async cleanup() {
    const fns = this.cleanups.splice(0);
    for (const fn of fns) {
      try {
        await fn();
      } catch (e) {
        this.diag(`cleanup: ${e.message}`);
      }
    }
  }

  /** Runs body(t) with a hard time limit, then cleans up and prints the plan. */
  async run(body, { limitMs = 150000 } = {}) {
    const watchdog = setTimeout(async () => {
      this.ok(false, `the test finished within ${limitMs / 1000} s`);
      await this.cleanup();
      console.log(`1..${this.n}`);
      process.exit(1);
    }, limitMs);
    try {
      await body(this);
    } catch (e) {
      this.ok(false, `no exception: ${e.message}`, e.stack);
    }
    clearTimeout(watchdog);
    await this.cleanup();
    console.log(`1..${this.n}`);
    process.exit(this.failed ? 1 : 0);
  }

  /** Skips the whole file (TAP: 1..0 # SKIP reason). */
  skipAll(why) {
    console.log(`1..0 # SKIP ${why}`);
    process.exit(0);
  }
}

// ---------------------------------------------------------------- dependencies

function log(text) {
  for (const line of String(text).split('\n')) if (line.trim()) console.log(`# ${line}`);
}

function run(cmd, args, opts = {}) {
  const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  return out;
}

/** Holds a lock directory while fn runs, so tests started in parallel install once. */
function withLock(name, fn) {
  const lock = path.join(os.tmpdir(), `monkeytown-e2e-${name}.lock`);
  const start = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 600000) fs.rmdirSync(lock); // stale
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() - start > 900000) throw new Error(`waited too long for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmdirSync(lock);
  }
}

/** apt-get install chromium (Debian's package) and npm install playwright-core, when missing. */
function ensureDeps() {
  if (!fs.existsSync(CHROMIUM)) {
    withLock('apt', () => {
      if (fs.existsSync(CHROMIUM)) return;
      const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      log('installing chromium (apt-get)…');
      const aptGet = (...a) => (sudo.length ? run('sudo', ['apt-get', ...a], { env }) : run('apt-get', a, { env }));
      aptGet('update', '-qq');
      aptGet('install', '-y', '-qq', '--no-install-recommends', 'chromium');
    });
  }
  const pw = path.join(E2E, 'node_modules', 'playwright-core', 'package.json');
  if (!fs.existsSync(pw)) {
    withLock('npm', () => {
      if (fs.existsSync(pw)) return;
      log('installing playwright-core (npm)…');
      const lock = fs.existsSync(path.join(E2E, 'package-lock.json'));
      run('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund', '--loglevel=error'], {
        cwd: E2E,
        env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
      });
    });
  }
  return require(path.join(E2E, 'node_modules', 'playwright-core'));
}

// ---------------------------------------------------------------- the server

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function httpJson(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(
      url,
      {
        method,
        headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers },
        timeout: 10000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode, headers: res.headers, body: json, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Temporary --games and --agents folders holding copies of the named folders ([dir, name]
 *  pairs: fixtures or the repository's games) and agent scripts (names in agents/), removed at
 *  cleanup. */
function scriptDirs(t, games, agents) {
  const dirs = {};
  for (const kind of ['games', 'agents']) {
    dirs[kind] = fs.mkdtempSync(path.join(os.tmpdir(), `mt-e2e-${kind}-`));
    t.onCleanup(() => fs.rmSync(dirs[kind], { recursive: true, force: true }));
  }
  for (const [dir, name] of games) fs.cpSync(path.join(dir, name), path.join(dirs.games, name), { recursive: true });
  for (const a of agents) fs.copyFileSync(path.join(ROOT, 'agents', `${a}.lua`), path.join(dirs.agents, `${a}.lua`));
  return dirs;
}

class Server {
  /** args: extra flags; games/agents: other script folders than the repository's. */
  constructor(args = [], { games, agents } = {}) {
    this.args = args;
    this.games = games || path.join(ROOT, 'games');
    this.agents = agents || path.join(ROOT, 'agents');
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-e2e-'));
    this.logPath = path.join(this.tmp, 'server.log');
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!fs.existsSync(BIN)) throw new Error(`no server binary at ${BIN} (build it, or set MT_BIN)`);
    this.port = this.port || (await freePort()); // a restart keeps the port the pages know
    const args = [
      '--host', '127.0.0.1',
      '--port', String(this.port),
      '--data-dir', path.join(this.tmp, 'data'),
      '--games', this.games,
      '--agents', this.agents,
      '--lua-dir', path.join(ROOT, 'lua'),
      '--web-dir', path.join(ROOT, 'web'),
      '--log-level', 'info',
      ...this.args,
    ];
    const out = fs.openSync(this.logPath, 'a');
    this.proc = spawn(BIN, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`server exited with ${this.proc.exitCode}:\n${this.logs()}`);
      try {
        const r = await httpJson('GET', `${this.url}/health/live`);
        if (r.status === 200) return this;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    throw new Error(`server did not come up:\n${this.logs()}`);
  }

  /** Kills the server with SIGKILL (a crash) and starts it again on the same port and data. */
  async crashAndRestart() {
    this.proc.kill('SIGKILL');
    await this.exited;
    return this.start();
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }

  logs() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  get(pathname) {
    return httpJson('GET', this.url + pathname);
  }

  post(pathname, body, headers) {
    return httpJson('POST', this.url + pathname, body, headers);
  }
}

/** The sum of a Prometheus series in a /metrics text (name with or without its labels). */
function metricOf(text, name) {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** A cluster behind nginx: redis-server, PostgreSQL 15, `monkeytown --cluster` instances (ids)
 *  and docker/nginx.conf on loopback, run by lib/cluster_front.py with the integration tests'
 *  own helpers (in /usr/bin/python3, which has their libraries). `url` is nginx's; the pages
 *  talk to it, as to a Server. The helper stops everything when this process's end closes its
 *  stdin, however it ends. start() resolves with null when the cluster cannot run here
 *  (the reason is in skipWhy). */
class ClusterFront {
  /** games: another --games folder than the repository's. */
  constructor(ids = ['alpha', 'beta', 'gamma'], { games } = {}) {
    this.ids = ids;
    this.games = games;
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
  }

  async start(timeoutMs = 180000) {
    const helper = path.join(__dirname, 'cluster_front.py');
    const games = this.games ? ['--games', this.games] : [];
    this.proc = spawn('/usr/bin/python3', [helper, ...games, ...this.ids], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, MT_BIN: BIN },
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0; ) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(JSON.parse(line));
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.proc.stdout.on('end', () => {
      for (const w of this.waiters.splice(0)) w();
    });
    const first = await this._next(timeoutMs);
    if (first.skip) {
      this.skipWhy = first.skip;
      return null;
    }
    this.url = first.url;
    this.instances = first.instances;
    return this;
  }

  /** The helper's next answer line (as JSON). */
  async _next(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.length) {
      if (this.proc.stdout.readableEnded) throw new Error(`the cluster helper ended:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`the cluster helper did not answer:\n${this.stderr}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 1000);
      });
    }
    return this.lines.shift();
  }

  instance(id) {
    return this.instances.find((i) => i.id === id);
  }

  /** SIGKILLs instance id; resolves once it is gone (reaped). */
  async kill(id) {
    this.proc.stdin.write(`kill ${id}\n`);
    const ans = await this._next(30000);
    if (ans.killed !== id) throw new Error(`kill ${id}: ${JSON.stringify(ans)}`);
  }

  /** Instance id's metric (see metricOf); NaN when it does not answer. */
  async metric(id, name) {
    try {
      const r = await httpJson('GET', this.instance(id).url + '/metrics');
      return r.status === 200 ? metricOf(r.text, name) : NaN;
    } catch {
      return NaN;
    }
  }

  logs(id) {
    try {
      return fs.readFileSync(this.instance(id).log, 'utf8');
    } catch {
      return '';
    }
  }

  /** Closes the helper's stdin: it stops everything and removes its directories. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 60000);
    await this.exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------- the browser

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn (maybe async) every stepMs until it returns something true or timeoutMs pass;
 *  resolves with its last value. Waits are deadlines, never fixed sleeps. */
async function poll(fn, timeoutMs = 30000, stepMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(stepMs);
  }
}

/** Launches Debian's chromium headless with a fresh profile. */
async function launch(pw) {
  return pw.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
}

/** A new context (its own storage, i.e. its own player) and page, with errors collected. */
async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(m.text())) page.errors.push(`console: ${m.text()}`);
  });
  return { context, page };
}

async function screenshot(page, name, opts = {}) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, ...opts });
  return file;
}

/** Opens the app and signs in as a guest; resolves with the player id shown in the header. */
async function signInGuest(page, server) {
  await page.goto(server.url + '/');
  await page.click('#guest-btn');
  await page.waitForSelector('#me-id[data-player-id]');
  await page.waitForSelector('.game-card');
  return page.getAttribute('#me-id', 'data-player-id');
}

/** The current game id from the page's URL (#/game/<id>). */
async function gameIdOf(page) {
  await page.waitForFunction(() => /^#\/game\//.test(location.hash));
  return page.evaluate(() => location.hash.slice('#/game/'.length));
}

/** The log entries shown (seq, kind) and whether any seq appears twice. */
async function logEntries(page) {
  return page.$$eval('[data-testid=log] li.entry', (lis) =>
    lis.map((li) => ({ seq: Number(li.dataset.seq), kind: li.dataset.kind, text: li.textContent })),
  );
}

function dupes(list) {
  const seen = new Set();
  const d = [];
  for (const x of list) {
    if (seen.has(x)) d.push(x);
    seen.add(x);
  }
  return d;
}

module.exports = {
  Tap,
  Server,
  ClusterFront,
  metricOf,
  scriptDirs,
  ensureDeps,
  launch,
  newPage,
  screenshot,
  signInGuest,
  gameIdOf,
  logEntries,
  dupes,
  sleep,
  poll,
  httpJson,
  ROOT,
  OUT,
  BIN,
};
