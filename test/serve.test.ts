// `miro serve` on the CI pipeline's run, driven in a real headless browser (Debian's chromium
// through puppeteer-core): the dataset page's count under a filter, sorting, the detail against
// `miro sql`, a bad filter shown as an error, the dials (a sample per request, one target moved
// changes the pixels, the same request gives the same image), and the security of every route.
// Screenshots of each page go to test/out/serve/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { ROOT, runCli, sql, tmpDir } from './helpers.ts';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { startServer, type Server } from '../src/serve/server.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find(
  (p): p is string => !!p && existsSync(p),
);
const skip = CHROMIUM ? false : "no chromium here (CI installs Debian's chromium; CHROMIUM_PATH names another)";
const SHOTS = path.join(ROOT, 'test/out/serve');
const root = tmpDir('miro-serve-');
let server: Server | undefined;

before(async () => {
  if (skip) return;
  const run = await runCli(['run', 'pipelines/ci.yaml'], { env: { MIRO_DATA_ROOT: root } });
  assert.equal(run.code, 0, run.stderr);
  server = await startServer(loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: root }), { port: 0 });
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => server?.close());

const get = (p: string, init?: RequestInit) => fetch(`${server!.url}${p}`, init);

test('the server binds to 127.0.0.1 by default; filters, sorts, ids and paths cannot reach beyond the run', { skip }, async () => {
  assert.match(server!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const bad: [string, RegExp][] = [
    ['1=1; DROP TABLE dataset', /not one SQL expression/],
    ['true) OR (true', /not one SQL expression/],
    ["1=1; ATTACH '/tmp/x.db'", /not one SQL expression/],
    ["1=1; COPY dataset TO '/tmp/x.csv'", /not one SQL expression/],
    ['1=1; INSTALL httpfs', /not one SQL expression/],
    ["(SELECT count(*) FROM read_csv('/etc/passwd')) > 0", /Permission Error/],
    ['no_such_column > 1', /no_such_column/],
  ];
  for (const [where, why] of bad) {
    const r = await get(`/api/rows?where=${encodeURIComponent(where)}`);
    assert.equal(r.status, 400, where);
    assert.match(((await r.json()) as { error: string }).error, why, where);
  }
  const sorted = await get(`/api/rows?sort=${encodeURIComponent('colourfulness_score; DROP TABLE dataset')}`);
  assert.equal(sorted.status, 400);
  assert.match(((await sorted.json()) as { error: string }).error, /sort: no column/);
  // Still there after all of the above.
  assert.equal(((await (await get('/api/rows?limit=1')).json()) as { total: number }).total, 300);
  for (const p of [
    '/img/..%2F..%2Fetc%2Fpasswd',
    '/report/..%2F..%2Fetc%2Fpasswd',
    '/report/%2Fetc%2Fpasswd',
    '/contact/synth/..%2F..%2F_manifest.json',
    '/../package.json',
    '/static/../../package.json',
    '/img/no-such-id',
    '/api/row/no-such-id',
  ])
    assert.equal((await get(p)).status, 404, p);
  // Only requests that name this server (DNS rebinding), and POSTs from its own pages.
  const raw = (method: string, p: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const u = new URL(`${server!.url}${p}`);
      const req = httpRequest({ hostname: u.hostname, port: u.port, path: u.pathname, method, headers }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
  const port = new URL(server!.url).port;
  assert.equal(await raw('GET', '/api/info', { host: 'evil.example' }), 403);
  assert.equal(await raw('GET', '/api/info', { host: `localhost:${port}` }), 200);
  assert.equal(await raw('POST', '/api/reload', { host: `127.0.0.1:${port}`, origin: 'http://evil.example' }), 403);
  assert.equal(await raw('POST', '/api/reload', { host: `127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' }), 403);
  assert.equal(await raw('POST', '/api/reload', { host: `127.0.0.1:${port}`, origin: server!.url }), 200);
  // The filter reads this run's files only, not another pipeline's under the same data root.
  mkdirSync(path.join(root, 'other'), { recursive: true });
  writeFileSync(path.join(root, 'other', 'secret.csv'), 'secret\nhunter2\n');
  const other = await get(`/api/rows?where=${encodeURIComponent(`(SELECT count(*) FROM read_csv('${root}/other/secret.csv')) > 0`)}`);
  assert.equal(other.status, 400);
  const otherError = ((await other.json()) as { error: string }).error;
  assert.match(otherError, /Permission Error/);
  assert.doesNotMatch(otherError, /hunter2/);

  // A quote, a backslash and a NUL through every parameter: a clean 4xx or an empty page, never a 500.
  for (const hostile of ["'", '\\', '\0', "x' OR '1'='1", "a\\'\0b"]) {
    const e = encodeURIComponent(hostile);
    const after = Buffer.from(JSON.stringify({ v: hostile, id: hostile })).toString('base64url');
    for (const p of [`/api/row/${e}`, `/img/${e}`, `/contact/${e}/${e}`, `/report/${e}`])
      assert.equal((await get(p)).status, 404, `${p} (${JSON.stringify(hostile)})`);
    for (const p of [`/api/rows?where=${e}`, `/api/rows?sort=${e}`, `/api/rows?dir=${e}&after=${e}`]) {
      const r = await get(p);
      assert.equal(r.status, 400, `${p} (${JSON.stringify(hostile)})`);
    }
    for (const p of [`/api/rows?after=${after}`, `/api/rows?sort=caption&after=${after}`]) {
      const r = await get(p);
      assert.equal(r.status, 200, `${p} (${JSON.stringify(hostile)})`);
      assert.ok(Array.isArray(((await r.json()) as { rows: unknown[] }).rows));
    }
  }
  const img = await get(
    `/img/${encodeURIComponent(String((await sql(`SELECT id FROM read_parquet('${root}/ci/synth/*.parquet') ORDER BY id LIMIT 1`))[0]!.id))}`,
  );
  assert.equal(img.status, 200);
  assert.equal(img.headers.get('content-type'), 'image/png');
  assert.match(img.headers.get('cache-control') ?? '', /max-age/);
});

test(
  'the pages in a browser: dataset count, sort and detail, a bad filter, the dials, rewards, run and claims',
  { skip, timeout: 300_000 },
  async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));

      // A filter: the page counts exactly the rows SQL counts, and shows the first page of them.
      const where = 'colourfulness_bin >= 5';
      const [{ n }] = (await sql(`SELECT count(*)::INTEGER AS n FROM read_parquet('${root}/ci/bins/*.parquet') WHERE ${where}`)) as [
        { n: number },
      ];
      await page.goto(`${server!.url}/#dataset?${new URLSearchParams({ where, sort: 'colourfulness_score', dir: 'desc' })}`);
      await page.waitForSelector('#grid .card');
      assert.equal(await page.$eval('#count', (e) => e.textContent), `${n.toLocaleString('en-US')} rows`);
      assert.equal((await page.$$('#grid .card')).length, Math.min(48, n));
      const scores = await page.$$eval('#grid .card td.score[data-reward="colourfulness"]', (tds) => tds.map((t) => Number(t.textContent)));
      assert.ok(
        scores.every((s, i) => i === 0 || s <= scores[i - 1]!),
        `not descending: ${scores.join(', ')}`,
      );
      await page.screenshot({ path: path.join(SHOTS, 'dataset.png') });

      // The detail of the first card agrees with miro sql.
      const id = await page.$eval('#grid .card', (e) => e.getAttribute('data-id'));
      await page.click('#grid .card');
      await page.waitForSelector('#detail-row');
      const shown = await page.$eval('#detail-row td[data-col="colourfulness_score"]', (e) => e.textContent);
      const q = await runCli(
        ['sql', 'pipelines/ci.yaml', `SELECT score AS colourfulness_score FROM score_colourfulness WHERE id = '${id}'`, '--format', 'json'],
        { env: { MIRO_DATA_ROOT: root } },
      );
      const bySql = (JSON.parse(q.stdout) as { colourfulness_score: number }[])[0]!.colourfulness_score;
      assert.equal(shown, bySql.toPrecision(4));
      await page.screenshot({ path: path.join(SHOTS, 'detail.png') });
      await page.keyboard.press('Escape');

      // A bad filter is an error on the page, and the page still works.
      await page.goto(`${server!.url}/#dataset?where=${encodeURIComponent('colourfulness_bin >>> 2 (')}`);
      await page.waitForFunction(() => (document.querySelector('#error')?.textContent ?? '').length > 0);
      assert.match(await page.$eval('#error', (e) => e.textContent ?? ''), /filter|Parser Error|syntax/i);
      assert.ok(await page.$('#apply'), 'the filter bar is still there');

      // Dials: a sample appears; moving one target changes the pixels; the same settings give the same image.
      await page.goto(`${server!.url}/#dials`);
      await page.waitForFunction(() => (document.querySelector('#sample') as HTMLImageElement | null)?.src.startsWith('blob:'));
      const pixels = () =>
        page.$eval('#sample', async (img) => {
          const el = img as HTMLImageElement;
          await el.decode();
          const c = document.createElement('canvas');
          c.width = el.naturalWidth;
          c.height = el.naturalHeight;
          const ctx = c.getContext('2d')!;
          ctx.drawImage(el, 0, 0);
          return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
        });
      const first = await pixels();
      assert.ok(first.length === 32 * 32 * 4, `${first.length} values`);
      const srcBefore = await page.$eval('#sample', (e) => (e as HTMLImageElement).src);
      await page.$eval('#sliders input[data-reward="colourfulness"]', (e) => {
        (e as HTMLInputElement).value = '0';
        e.dispatchEvent(new Event('input'));
        e.dispatchEvent(new Event('change'));
      });
      await page.waitForFunction((s) => (document.querySelector('#sample') as HTMLImageElement).src !== s, {}, srcBefore);
      const moved = await pixels();
      assert.ok(
        moved.some((v, i) => v !== first[i]),
        'moving the colourfulness target changed no pixel',
      );
      await page.screenshot({ path: path.join(SHOTS, 'dials.png') });
      const body = JSON.stringify({
        node: 'train_miro',
        prompt: 'a red circle',
        preset: 'custom',
        targets: { colourfulness: 0.2 },
        guidance: 3,
        seed: 5,
        steps: 10,
      });
      const [a, b] = await Promise.all(
        [0, 1].map(async () =>
          Buffer.from(
            await (await get('/api/sample', { method: 'POST', body, headers: { 'content-type': 'application/json' } })).arrayBuffer(),
          ),
        ),
      );
      assert.ok(a!.length > 100 && a!.equals(b!), 'two identical dial requests (queued together) gave different images');

      for (const name of ['rewards', 'run', 'claims']) {
        await page.goto(`${server!.url}/#${name}`);
        await page.waitForSelector(
          name === 'rewards' ? 'section.reward svg' : name === 'run' ? '#status tr[data-node]' : '.claims h1, .claims h2',
        );
        await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: name !== 'claims' });
        if (name === 'run') assert.equal(await page.$$eval('#status tr[data-node]', (rows) => rows.length), 21);
      }
      assert.deepEqual(errors, [], 'no page errors');
    } finally {
      await browser.close();
    }
  },
);

test('a filter that runs past the statement timeout is stopped with a 503, and the next request is served at once', { skip }, async () => {
  const quick = await startServer(loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: root }), {
    port: 0,
    statementTimeoutMs: 400,
  });
  try {
    const costly = encodeURIComponent('(SELECT count(*) FROM range(1000000000000) t(x) WHERE x % 7 = 3) > 0');
    const t0 = performance.now();
    const slow = await fetch(`${quick.url}/api/rows?where=${costly}`);
    const took = performance.now() - t0;
    assert.equal(slow.status, 503, await slow.clone().text());
    assert.match(((await slow.json()) as { error: string }).error, /ran past 0.4 s and was stopped/);
    assert.ok(took < 5000, `the costly filter held the server for ${took} ms`);
    // An error never echoes what a filter read: DuckDB quotes the value it could not convert.
    const secret = path.join(root, 'ci', 'secret.txt');
    writeFileSync(secret, 'TOPSECRET-4242');
    const leak = await fetch(
      `${quick.url}/api/rows?where=${encodeURIComponent(`(SELECT content FROM read_text('${secret}'))::INTEGER = 1`)}`,
    );
    const body = await leak.text();
    assert.equal(leak.status, 400, body);
    assert.doesNotMatch(body, /TOPSECRET/);
    assert.match(body, /Conversion Error|Could not convert/);
    const next = await fetch(`${quick.url}/api/rows?limit=3`);
    assert.equal(next.status, 200);
    assert.equal(((await next.json()) as { rows: unknown[] }).rows.length, 3);
  } finally {
    await quick.close();
  }
});

test(
  'the explorer counts only committed parts: a stray part beyond the shards is ignored, and a node missing a marker shows no rows and says why',
  { skip },
  async () => {
    const copy = tmpDir('miro-serve-uncommitted-');
    cpSync(root, copy, { recursive: true });
    // A part file nobody committed (a copy of a real one, past the node's two shards).
    cpSync(path.join(copy, 'ci/synth/part-00000.parquet'), path.join(copy, 'ci/synth/part-00002.parquet'));
    const open = async () => startServer(loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: copy }), { port: 0 });
    const rowsOf = async (s: Server) => (await (await fetch(`${s.url}/api/rows?limit=1`)).json()) as { total: number };
    let s = await open();
    try {
      assert.equal((await rowsOf(s)).total, 300);
    } finally {
      await s.close();
    }
    // A shard whose marker is gone (a run killed before its commit) is not committed: no rows, and the reason.
    rmSync(path.join(copy, 'ci/score_contrast/_done/00001.json'));
    s = await open();
    try {
      assert.equal((await rowsOf(s)).total, 0);
      const info = (await (await fetch(`${s.url}/api/info`)).json()) as { waiting: string | null };
      assert.match(String(info.waiting), /score_contrast not complete/);
    } finally {
      await s.close();
    }
  },
);

test('the claims page escapes HTML that data put in the report (captions, prompts), keeping <details>', async () => {
  const { renderReport } = await import('../src/serve/server.ts');
  const html = await renderReport(
    '| caption |\n|---|\n| <img src=x onerror=alert(1)> |\n\n<details><summary>query</summary>\n\nSELECT 1\n</details>\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.org) [<img src=y onerror=alert(2)>](https://example.org/a)\n',
  );
  assert.doesNotMatch(html, /<img src=[xy]|<script>|javascript:/);
  assert.match(html, /<a href="https:\/\/example.org\/a">&lt;img src=y onerror=alert\(2\)&gt;<\/a>/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /<details><summary>query<\/summary>/);
  assert.match(html, /<a href="https:\/\/example.org">ok<\/a>/);
});

test('a pipeline that has not run yet serves empty pages that say what is missing', async () => {
  const empty = await startServer(loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: tmpDir('miro-serve-empty-') }), {
    port: 0,
  });
  try {
    const info = (await (await fetch(`${empty.url}/api/info`)).json()) as { waiting: string };
    assert.match(info.waiting, /no rows yet: synth, bins, .* not complete; run the pipeline, then reload/);
    assert.deepEqual(await (await fetch(`${empty.url}/api/rows`)).json(), { rows: [], total: 0, next: null });
    const status = (await (await fetch(`${empty.url}/api/status`)).json()) as { state: string }[];
    assert.ok(status.every((n) => n.state === 'pending'));
  } finally {
    await empty.close();
  }
});
