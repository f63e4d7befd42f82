#!/usr/bin/env bash
# One prepared check of the model on whatever accelerator this machine has: which TensorFlow.js
# backends load (tensorflow-gpu through CUDA, webgpu through Dawn), the model tests on the fastest
# one, and bench/train.ts's steps/s per backend. Prints every figure; with $OUT set (a device
# run), also writes the log there. Needs Node.js 20+ and the project's node_modules.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1

if ! command -v node >/dev/null; then
  echo "gpu-check: Node.js is not installed on this machine; install Node.js 20+ (and run npm ci) first"
  exit 2
fi
[ -d node_modules ] || npm ci --no-audit --no-fund || exit 2
export ONNXRUNTIME_NODE_INSTALL=skip

echo "== machine"
node --version
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
ls /dev/dri 2>/dev/null | sed 's/^/dri: /' || true

echo "== backends"
for b in tensorflow-gpu webgpu tensorflow wasm cpu; do
  node --import tsx -e "
    const { loadTf } = await import('./src/model/backend.ts');
    try { const r = await loadTf('$b'); console.log('backend $b: loads (' + r.tf.getBackend() + ')'); }
    catch (e) { console.log('backend $b: ' + e.message); }" 2>/dev/null
done

echo "== model tests (fastest backend)"
node --import tsx --test --test-reporter=spec test/model.test.ts test/train.test.ts test/paper-path.test.ts
tests=$?

echo "== bench/train.ts"
node --import tsx bench/train.ts
bench=$?

echo "gpu-check: tests exit $tests, bench exit $bench (log: $log)"
exit $(( tests || bench ))
