// `miro serve` figures: on a million synthetic rows with seven rewards, the first dataset page's
// latency and a filtered, sorted page's latency (and the next page by its keyset cursor); and the
// dials' time per sample on the demo model's preset (tiny, 30 Euler steps, one 32 x 32 image).

import { connect } from '../src/store/duck.ts';
import { Dataset } from '../src/serve/dataset.ts';
import { loadTf } from '../src/model/backend.ts';
import { modelConfig } from '../src/model/config.ts';
import { initParams } from '../src/model/network.ts';
import { sampleImages } from '../src/model/sampler.ts';
import { guidancePreset } from '../src/model/guidance.ts';
import { report, timed } from './util.ts';

const ROWS = Number(process.env.BENCH_SERVE_ROWS ?? 1_000_000);
const REWARDS = ['aesthetic', 'hpsv2', 'imagereward', 'pickscore', 'sciscore', 'vqascore', 'jinaclip'];
const conn = await connect();
await conn.run(`CREATE TEMP TABLE dataset AS SELECT
  'r' || lpad(i::VARCHAR, 8, '0') AS id, 'a caption ' || (i % 997) AS caption, 'a long caption ' || (i % 991) AS caption_long, 'short ' || (i % 89) AS caption_short,
  ${REWARDS.map((r, k) => `hash(i, ${k}) % 100000 / 100000.0 AS ${r}_score, (hash(i, ${k}) % 64)::INTEGER AS ${r}_bin, (hash(i, ${k}) % 64) / 63.0 AS ${r}_target`).join(', ')},
  CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'ok' END AS status
  FROM range(${ROWS}) t(i)`);
const dataset = await Dataset.overTable(conn, REWARDS);
await dataset.page({}); // warm-up
const first = await timed(() => dataset.page({}));
report('serve.first_page_ms', first.secs * 1000, 'ms');
const opts = { where: "aesthetic_bin >= 32 AND hpsv2_bin < 48 AND status = 'ok'", sort: 'pickscore_score', dir: 'desc' as const };
const sorted = await timed(() => dataset.page(opts));
report('serve.filtered_sorted_page_ms', sorted.secs * 1000, 'ms');
const next = await timed(() => dataset.page({ ...opts, after: sorted.value.next }));
report('serve.next_page_ms', next.secs * 1000, 'ms');
console.log(`# ${ROWS.toLocaleString('en')} rows; the filter keeps ${sorted.value.total.toLocaleString('en')}`);
conn.closeSync();

const { tf } = await loadTf();
const cfg = modelConfig('tiny', 'miro', ['colourfulness', 'sharpness', 'contrast', 'cleanliness', 'objects', 'counting', 'position']);
const params = initParams(tf, cfg, 1);
const g = guidancePreset('custom', cfg.rewards, { colourfulness: 0.4 });
const sample = () =>
  sampleImages(tf, cfg, params, {
    captions: ['a red circle'],
    positive: [g.positive],
    negative: [g.negative],
    guidance: 3,
    negativeCaption: 'same',
    steps: 30,
    seed: 7,
  });
await sample();
const dial = await timed(async () => {
  for (let i = 0; i < 5; i++) await sample();
});
report('serve.dial_ms_per_sample', (dial.secs * 1000) / 5, 'ms');
