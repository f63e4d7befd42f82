// The stock BatchMatMul gradient multiplies with transpose flags, which the wasm backend runs
// on a slow path; plain matMul after an explicit transpose takes the fast kernel (docs/toolchain.md:
// a transformer step went from 0.45 to 2 steps/s). Same values, re-registered once per process.

import type * as TF from '@tensorflow/tfjs';

type Tf = typeof TF;
import type { Tensor, NamedAttrMap } from '@tensorflow/tfjs';

let registered = false;

export function registerFastMatMulGradient(tf: Tf): void {
  if (registered) return;
  registered = true;
  const T = (x: Tensor) => {
    const perm = [...Array(x.rank).keys()];
    [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
    return tf.transpose(x, perm);
  };
  // Sums a gradient over batch dimensions that were broadcast in the forward pass.
  const unbroadcast = (g: Tensor, shape: number[]) => {
    if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
    const lead = g.rank - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < g.rank - 2; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
    return tf.reshape(tf.sum(g, axes), shape);
  };
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [a, b] = saved as [Tensor, Tensor];
      const g = dy as Tensor;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      let da: () => Tensor;
      let db: () => Tensor;
      if (!transposeA && !transposeB) {
        da = () => tf.matMul(g, T(b));
        db = () => tf.matMul(T(a), g);
      } else if (!transposeA && transposeB) {
        da = () => tf.matMul(g, b);
        db = () => tf.matMul(T(g), a);
      } else if (transposeA && !transposeB) {
        da = () => tf.matMul(b, T(g));
        db = () => tf.matMul(a, g);
      } else {
        da = () => T(tf.matMul(g, b));
        db = () => T(tf.matMul(a, g));
      }
      return { a: () => unbroadcast(da(), a.shape), b: () => unbroadcast(db(), b.shape) };
    },
  });
}
