#!/usr/bin/env bash
# One prepared check for a machine with an accelerator, sized for one call of at most 8 minutes.
# Needs only python3 with torch (the borrowed GPU machines have torch 2.11 and no Node.js):
#   1. the torch engine (python/miro_torch) on the `paper` preset, synthetic latents and text
#      states, one GPU, bf16 autocast: steps/s, images/s, peak GPU memory (about 3 minutes);
#   2. the same under torchrun on every GPU (DDP over NCCL), when there is more than one;
#   3. the `tiny` demo preset on one GPU, for the learnability study's speed there;
#   4. with DEMO_PLAN=<data>/demo/<train node>/_torch/plan.json (a demo run with the node's
#      `engine: torch, launch: external`, its data root carried along): the demo world trained by
#      the torch engine on the GPU. Its checkpoints and evaluation snapshots land beside the plan;
#      copy them back and `miro run` the pipeline again to judge them (mini-GenEval per step).
# With Node.js 20+ and node_modules present it also lists the TensorFlow.js backends that load.
# Prints every figure; with $OUT set (a device run), also writes the log there.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
py=${PYTHON:-python3} # a python3 with torch

echo "== machine"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "gpus", torch.cuda.device_count())' || exit 2
gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')

echo "== torch engine, paper preset, one process"
"$py" -m miro_torch.bench --preset paper --seconds "${PAPER_SECONDS:-150}"
one=$?
multi=0
if [ "$gpus" -gt 1 ]; then
  echo "== torch engine, paper preset, torchrun on $gpus GPUs"
  "$py" -m torch.distributed.run --nproc_per_node "$gpus" -m miro_torch.bench --preset paper --seconds 60
  multi=$?
fi
echo "== torch engine, tiny (the demo preset)"
"$py" -m miro_torch.bench --preset tiny --seconds 30 --batch 256
tiny=$?

demo=0
if [ -n "${DEMO_PLAN:-}" ]; then
  echo "== torch engine, the demo world: $DEMO_PLAN"
  "$py" -m miro_torch.train "$DEMO_PLAN"
  demo=$?
  [ -n "${OUT:-}" ] && cp -r "$(dirname "$DEMO_PLAN")/.." "$OUT/demo-train" 2>/dev/null
fi

if command -v node >/dev/null && [ -d node_modules ]; then
  echo "== TensorFlow.js backends"
  for b in tensorflow-gpu webgpu tensorflow wasm; do
    node --import tsx -e "
      const { loadTf } = await import('./src/model/backend.ts');
      try { const r = await loadTf('$b'); console.log('backend $b: loads (' + r.tf.getBackend() + ')'); }
      catch (e) { console.log('backend $b: ' + e.message); }" 2>/dev/null
  done
fi
echo "gpu-check: exits paper $one, torchrun $multi, tiny $tiny, demo $demo (log: $log)"
exit $(( one || multi || tiny || demo ))
