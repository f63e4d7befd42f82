// The pages of `miro serve`, one module, no build step: each page fetches its JSON API and draws.

const $ = (sel, root = document) => root.querySelector(sel);
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
};
const fmt = (v) =>
  v === null || v === undefined ? '–' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
async function api(url, init) {
  const res = await fetch(url, init);
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.blob();
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

let info = null;
const pages = { dataset, rewards, run, dials, claims };
let refresh = null;

async function route() {
  clearInterval(refresh);
  const name = location.hash.slice(1).split('?')[0] || 'dataset';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  const page = $('#page');
  page.replaceChildren();
  try {
    await (pages[name] ?? dataset)(page);
  } catch (err) {
    page.append(h('p', { class: 'error' }, err.message));
  }
}

// --- Dataset: a grid of images with captions and every reward; filter, sort, keyset pages.
async function dataset(page) {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const where = h('input', {
    type: 'text',
    id: 'where',
    placeholder: "filter, e.g. colourfulness_bin >= 3 AND status = 'ok'",
    value: params.get('where') ?? '',
  });
  const sort = h(
    'select',
    { id: 'sort' },
    h('option', { value: 'id' }, 'id'),
    ...info.rewards.map((r) => h('option', { value: `${r}_score` }, `${r} score`)),
  );
  sort.value = params.get('sort') ?? 'id';
  const dir = h('select', { id: 'dir' }, h('option', { value: 'asc' }, 'ascending'), h('option', { value: 'desc' }, 'descending'));
  dir.value = params.get('dir') ?? 'asc';
  const apply = () => {
    const q = new URLSearchParams({ where: where.value, sort: sort.value, dir: dir.value });
    location.hash = `dataset?${q}`;
  };
  where.addEventListener('keydown', (e) => e.key === 'Enter' && apply());
  const error = h('div', { class: 'error', id: 'error' });
  const count = h('span', { class: 'muted', id: 'count' });
  const grid = h('div', { class: 'grid', id: 'grid' });
  const more = h('button', { id: 'more', hidden: true }, 'more');
  const reload = async () => {
    await api('/api/reload', { method: 'POST' });
    info = await api('/api/info');
    route();
  };
  page.append(
    ...(info.waiting ? [h('p', { class: 'muted', id: 'waiting' }, info.waiting, ' ', h('button', { onclick: reload }, 'reload'))] : []),
    h('div', { class: 'bar' }, where, sort, dir, h('button', { id: 'apply', onclick: apply }, 'apply'), count),
    error,
    grid,
    h('p', {}, more),
  );
  let after = null;
  const load = async () => {
    const q = new URLSearchParams({ where: where.value, sort: sort.value, dir: dir.value, limit: '48' });
    if (after) q.set('after', after);
    try {
      const res = await api(`/api/rows?${q}`);
      count.textContent = `${res.total.toLocaleString()} rows`;
      for (const r of res.rows) grid.append(card(r));
      after = res.next;
      more.hidden = !after;
    } catch (err) {
      error.textContent = err.message;
    }
  };
  more.addEventListener('click', load);
  await load();
}

function card(r) {
  const rows = info.rewards.map((x) =>
    h(
      'tr',
      {},
      h('td', {}, x),
      h('td', { class: 'num score', 'data-reward': x }, fmt(r[`${x}_score`])),
      h('td', { class: 'num' }, fmt(r[`${x}_bin`])),
      h('td', { class: 'num' }, fmt(r[`${x}_target`])),
    ),
  );
  return h(
    'div',
    { class: `card${r.status === 'ok' ? '' : ' failed'}`, 'data-id': r.id, onclick: () => detail(r.id) },
    h('img', { src: `/img/${encodeURIComponent(r.id)}`, loading: 'lazy', alt: r.caption ?? r.id }),
    h('div', { class: 'cap', title: r.caption ?? '' }, r.caption ?? ''),
    h(
      'table',
      {},
      h(
        'tr',
        { class: 'muted' },
        h('td', {}, 'reward'),
        h('td', { class: 'num' }, 'score'),
        h('td', { class: 'num' }, 'bin'),
        h('td', { class: 'num' }, 'target'),
      ),
      rows,
    ),
  );
}

async function detail(id) {
  const d = await api(`/api/row/${encodeURIComponent(id)}`);
  const dlg = $('#detail');
  dlg.replaceChildren(
    h('img', { src: `/img/${encodeURIComponent(id)}`, alt: id }),
    h('h3', {}, id),
    h(
      'table',
      { class: 'data', id: 'detail-row' },
      Object.entries(d.row).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { 'data-col': k }, fmt(v)))),
    ),
    h('h4', {}, 'per node'),
    h(
      'table',
      { class: 'data' },
      d.nodes.map((n) => h('tr', {}, h('th', {}, n.node), h('td', {}, n.status ?? ''), h('td', { class: 'error' }, n.error ?? ''))),
    ),
    h('form', { method: 'dialog' }, h('button', {}, 'close')),
  );
  dlg.showModal();
}

// --- Rewards: histograms with the bin edges, examples from the low, middle and high bins, correlations.
async function rewards(page) {
  const res = await api('/api/rewards');
  for (const r of res.rewards) {
    const max = Math.max(1, ...r.histogram.map((b) => b.count));
    const W = 640,
      H = 140,
      lo = r.histogram[0]?.lo ?? 0,
      hi = r.histogram.at(-1)?.hi ?? 1;
    const x = (v) => ((v - lo) / (hi - lo || 1)) * W;
    const svg = `<svg width="${W}" height="${H + 16}" role="img" aria-label="${r.reward} histogram">${r.histogram
      .map(
        (b) =>
          `<rect x="${x(b.lo)}" y="${H - (b.count / max) * H}" width="${Math.max(1, x(b.hi) - x(b.lo) - 1)}" height="${(b.count / max) * H}" fill="#9db4ef"/>`,
      )
      .join(
        '',
      )}${r.edges.map((e) => `<line x1="${x(e)}" x2="${x(e)}" y1="0" y2="${H}" stroke="#b42318" stroke-dasharray="3 2"/>`).join('')}<text x="0" y="${H + 14}" font-size="11">${fmt(lo)}</text><text x="${W - 40}" y="${H + 14}" font-size="11">${fmt(hi)}</text></svg>`;
    const hist = h('div');
    hist.innerHTML = svg;
    page.append(
      h(
        'section',
        { class: 'reward', 'data-reward': r.reward },
        h('h3', {}, r.reward, h('span', { class: 'muted' }, `  ${r.edges.length + 1} bins, edges dashed`)),
        hist,
        h(
          'div',
          { class: 'ex' },
          r.examples.map((e) =>
            h(
              'div',
              {},
              h('div', { class: 'muted' }, `bin ${e.bin}`),
              e.ids.map((id) => h('img', { src: `/img/${encodeURIComponent(id)}`, title: id, onclick: () => detail(id) })),
            ),
          ),
        ),
      ),
    );
  }
  const names = res.rewards.map((r) => r.reward);
  const cell = (a, b) => res.correlation.find((c) => c.a === a && c.b === b)?.r;
  page.append(
    h('h3', {}, 'correlation between rewards'),
    h(
      'table',
      { class: 'data heat' },
      h(
        'tr',
        {},
        h('th'),
        names.map((n) => h('th', {}, n)),
      ),
      names.map((a) =>
        h(
          'tr',
          {},
          h('th', {}, a),
          names.map((b) => {
            const v = cell(a, b);
            return h(
              'td',
              { style: `background: rgba(47, 91, 211, ${v === null || v === undefined ? 0 : Math.abs(v) * 0.6})` },
              v === null || v === undefined ? '–' : v.toFixed(2),
            );
          }),
        ),
      ),
    ),
  );
}

// --- Run: every node's state (refreshing), and the training curves.
async function run(page) {
  const status = h('div');
  const curves = h('div');
  page.append(h('h3', {}, 'nodes'), status, h('h3', {}, 'training'), curves);
  const draw = async () => {
    const nodes = await api('/api/status');
    status.replaceChildren(
      h(
        'table',
        { class: 'data', id: 'status' },
        h(
          'tr',
          {},
          ['node', 'kind', 'shards', 'rows ok', 'rows failed', 'state', 'why'].map((c) => h('th', {}, c)),
        ),
        nodes.map((n) =>
          h(
            'tr',
            { 'data-node': n.node },
            h('td', {}, n.node),
            h('td', {}, n.kind),
            h('td', {}, `${n.shards_committed}/${n.shards}`),
            h('td', {}, n.rows_ok),
            h('td', {}, n.rows_failed),
            h('td', { class: `state-${n.state.replace(' ', '-')}` }, n.state),
            h('td', { class: 'muted' }, n.why),
          ),
        ),
      ),
    );
  };
  await draw();
  refresh = setInterval(() => draw().catch(() => {}), 3000);
  const res = await api('/api/curves');
  for (const [node, pts] of Object.entries(res)) {
    if (!pts.length) continue;
    const W = 640,
      H = 160;
    const maxStep = pts.at(-1).step,
      lo = Math.min(...pts.map((p) => p.loss)),
      hi = Math.max(...pts.map((p) => p.loss));
    const path = pts.map((p, i) => `${i ? 'L' : 'M'}${(p.step / maxStep) * W},${H - ((p.loss - lo) / (hi - lo || 1)) * H}`).join('');
    const div = h('div', {}, h('div', { class: 'muted' }, `${node}: loss ${fmt(hi)} → ${fmt(pts.at(-1).loss)} over ${maxStep} steps`));
    div.insertAdjacentHTML(
      'beforeend',
      `<svg width="${W}" height="${H}" role="img" aria-label="${node} loss"><path d="${path}" fill="none" stroke="#2f5bd3"/></svg>`,
    );
    curves.append(div);
  }
}

// --- Dials: a trained model, a prompt, a target per reward, guidance; a sample per change, same seed.
async function dials(page) {
  const models = await api('/api/models');
  if (!models.length) {
    page.append(h('p', {}, 'No trained model yet: run the pipeline through a train node.'));
    return;
  }
  const model = h(
    'select',
    { id: 'model' },
    models.map((m) => h('option', { value: m.node }, `${m.node} (${m.variant})`)),
  );
  const prompt = h('input', { type: 'text', id: 'prompt', value: 'a red circle to the left of a blue square', size: 40 });
  const guidance = h('input', { type: 'range', id: 'guidance', min: 0, max: 8, step: 0.5, value: 3 });
  const seed = h('input', { type: 'number', id: 'seed', value: 7, min: 0 });
  const sliders = h('div', { id: 'sliders' });
  const img = h('img', { id: 'sample', alt: 'sample' });
  const note = h('div', { class: 'muted', id: 'sample-note' });
  const error = h('div', { class: 'error', id: 'dial-error' });
  const targets = {};
  const drawSliders = () => {
    const m = models.find((x) => x.node === model.value);
    sliders.replaceChildren(
      ...m.rewards.map((r) => {
        targets[r] ??= 1;
        const out = h('span', {}, fmt(targets[r]));
        const s = h('input', {
          type: 'range',
          min: 0,
          max: 1,
          step: 0.05,
          value: targets[r],
          'data-reward': r,
          oninput: (e) => {
            targets[r] = Number(e.target.value);
            out.textContent = fmt(targets[r]);
          },
          onchange: sample,
        });
        return h('label', {}, `${r} `, s, ' ', out);
      }),
    );
  };
  let pending = 0;
  async function sample() {
    const n = ++pending;
    error.textContent = '';
    try {
      const res = await fetch('/api/sample', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          node: model.value,
          prompt: prompt.value,
          preset: 'custom',
          targets,
          guidance: Number(guidance.value),
          seed: Number(seed.value),
          steps: 30,
        }),
      });
      if (!res.ok) throw new Error((await res.json()).error);
      if (n !== pending) return; // a newer request superseded this one
      URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(await res.blob());
      note.textContent = `${res.headers.get('x-sample-ms')} ms · seed ${seed.value} · w ${guidance.value} · ${Object.entries(targets)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`;
    } catch (err) {
      error.textContent = err.message;
    }
  }
  model.addEventListener('change', () => {
    drawSliders();
    sample();
  });
  for (const el of [prompt, guidance, seed]) el.addEventListener('change', sample);
  page.append(
    h(
      'div',
      { class: 'dials' },
      h(
        'div',
        {},
        h('label', {}, 'model ', model),
        h('label', {}, 'prompt ', prompt),
        h('label', {}, 'guidance w ', guidance),
        h('label', {}, 'seed ', seed),
        h('h4', {}, 'targets s+'),
        sliders,
      ),
      h('div', {}, img, note, error),
    ),
  );
  drawSliders();
  await sample();
}

// --- Claims: the evaluation report, rendered.
async function claims(page) {
  const res = await api('/api/claims');
  if (!res.html) {
    page.append(h('p', {}, `No report yet (${res.file}): run the pipeline through its report node.`));
    return;
  }
  const div = h('div', { class: 'claims' });
  div.innerHTML = res.html;
  page.append(div);
}

info = await api('/api/info');
$('#title').textContent = `miro · ${info.pipeline}`;
window.addEventListener('hashchange', route);
route();
