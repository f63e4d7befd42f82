// The filter gradient of a 2-D convolution for the wasm backend, which registers Conv2D and
// Conv2DBackpropInput but not Conv2DBackpropFilter (tfjs #8474), so that ordinary conv2d layers
// train there. Built as im2col and one product on the backend's own matrix kernel:
//   dW[kh, kw, ci, co] = sum over (b, y, x) of X[b, y*s + kh - pad_top, x*s + kw - pad_left, ci] * dY[b, y, x, co]
// The patch matrix is written already transposed, [kh*kw*Cin, B*Ho*Wo], so the product runs
// without transpose flags: wasm's fast path (docs/toolchain.md).

import type * as TF from '@tensorflow/tfjs';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

type Tf = typeof TF;

/** The few methods of the wasm backend this kernel uses. */
interface WasmBackend {
  readSync(dataId: object): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

interface FilterGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | number[][];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * The transposed patch matrix of an NHWC input: row (kh, kw, ci), column (b, y, x); zero where
 * the window reaches into the padding.
 */
type Pair = readonly [number, number];

export function im2colTransposed(
  x: Float32Array,
  [B, H, W, C]: readonly [number, number, number, number],
  [KH, KW]: Pair,
  [Ho, Wo]: Pair,
  [sy, sx]: Pair,
  [top, left]: Pair,
  out: Float32Array,
): void {
  const M = B * Ho * Wo;
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let c = 0; c < C; c++) {
        const row = ((kh * KW + kw) * C + c) * M;
        let m = 0;
        for (let b = 0; b < B; b++)
          for (let oy = 0; oy < Ho; oy++) {
            const iy = oy * sy + kh - top;
            if (iy < 0 || iy >= H) {
              out.fill(0, row + m, row + m + Wo);
              m += Wo;
              continue;
            }
            const base = (b * H + iy) * W;
            for (let ox = 0; ox < Wo; ox++, m++) {
              const ix = ox * sx + kw - left;
              out[row + m] = ix >= 0 && ix < W ? x[(base + ix) * C + c]! : 0;
            }
          }
      }
}

let registered = false;

/** Registers Conv2DBackpropFilter for the wasm backend (once per process; a no-op elsewhere). */
export function registerWasmConvFilterGradient(tf: Tf): void {
  if (registered || tf.getBackend() !== 'wasm') return;
  registered = true;
  const matMul = tf.getKernel('BatchMatMul', 'wasm')!;
  const config: KernelConfig = {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const a = attrs as unknown as FilterGradAttrs;
      if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        a.filterShape,
        a.strides,
        1,
        a.pad as never,
        a.dimRoundingMode,
        false,
        'channelsLast',
      );
      const [KH, KW, C, CO] = a.filterShape;
      const M = info.batchSize * info.outHeight * info.outWidth;
      const cols = wasm.makeOutput([KH * KW * C, M], 'float32');
      im2colTransposed(
        wasm.readSync(x.dataId),
        x.shape as [number, number, number, number],
        [KH, KW],
        [info.outHeight, info.outWidth],
        [info.strideHeight, info.strideWidth],
        [info.padInfo.top, info.padInfo.left],
        wasm.typedArrayFromHeap(cols),
      );
      const dy2 = { dataId: dy.dataId, shape: [M, CO], dtype: 'float32' } as TensorInfo; // the same buffer, seen as [M, Cout]
      const product = matMul.kernelFunc({
        inputs: { a: cols, b: dy2 },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
      wasm.disposeData(cols.dataId);
      return { dataId: product.dataId, shape: [KH, KW, C, CO], dtype: 'float32' };
    },
  };
  tf.registerKernel(config);
}
