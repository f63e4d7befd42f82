import { loadTf } from './src/model/backend.ts';
import { modelConfig } from './src/model/config.ts';
import { initParams, forward, parameterCount } from './src/model/network.ts';
import { interpolate, flowLoss } from './src/model/flow.ts';
const { tf } = await loadTf(process.argv[2], console.log);
for (const preset of ['tiny', 'small']) {
const cfg = modelConfig(preset, 'miro', ['a','b','c','d','e','f','g']);
console.log(preset, 'params', parameterCount(cfg));
const p = initParams(tf, cfg, 1);
const B = 32;
const x = tf.randomNormal([B, 32, 32, 3]), n = tf.randomNormal([B, 32, 32, 3]), t = tf.randomUniform([B]);
const text = tf.zeros([B, cfg.text.max_tokens], 'int32'), textMask = tf.ones([B, cfg.text.max_tokens]);
const rewards = tf.randomUniform([B, 7]), rewardMask = tf.ones([B, 7]);
const opt = tf.train.adam(1e-3);
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  const cost = opt.minimize(() => { const { xt, target } = interpolate(tf, x, n, t); return flowLoss(tf, forward(tf, cfg, p, { x: xt, t, text, textMask, rewards, rewardMask }), target) as any; }, true);
  const v = await cost!.data(); cost!.dispose();
  console.log(preset, 'step', (performance.now() - t0).toFixed(0), 'ms loss', v[0]!.toFixed(4), tf.memory().numTensors);
}
}
