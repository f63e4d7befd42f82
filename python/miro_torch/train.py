"""The torch engine's trainer: what src/train/loop.ts does, on PyTorch's own distributed engine.

  python3 -m miro_torch.train PLAN.json                                   # one process (GPU or CPU)
  torchrun --nproc-per-node G -m miro_torch.train PLAN.json               # DDP: NCCL on GPUs, gloo on CPUs
  srun torchrun --nnodes N --nproc-per-node G --rdzv-backend c10d \\
       --rdzv-endpoint HEAD:29500 -m miro_torch.train PLAN.json            # N machines (deploy/slurm)

The `train` node (engine: torch) writes PLAN.json: the model config, the initial weights, the
optimiser, and the data stream (python/miro_torch/stream.py: input shards, columns, order). Each
rank reads its own shards; the global batch is split evenly over the ranks. Checkpoints are the
TypeScript trainer's: <dir>/_checkpoints/step-N/{model,ema,adam_m,adam_v}.safetensors and
state.json (step, every rank's stream cursor, metrics), written whole or not at all, so a killed or
requeued job resumes where its last checkpoint left it and either engine can read them. At each
evaluation step rank 0 writes the EMA weights to <dir>/torch/eval/; the node evaluates them with
the project's judges once training is done.
"""
import contextlib
import faulthandler
import json
import math
import os
import shutil
import signal
import sys
import time

import torch

from . import safetensors_io
from .network import MiroNet
from .stream import Batcher, Stream, default_reader, derive_seed, load_plan
from .train_step import AdamW, flow_loss


def log(msg):
    print(f'[torch] {msg}', file=sys.stderr, flush=True)


def checkpoints_dir(node_dir):
    """`_checkpoints/` (skipped by Parquet readers), or `checkpoints/` where an older version wrote only that
    (as src/store/layout.ts)."""
    now, old = os.path.join(node_dir, '_checkpoints'), os.path.join(node_dir, 'checkpoints')
    return old if os.path.isdir(old) and not os.path.isdir(now) else now


def step_dir(node_dir, step):
    return os.path.join(checkpoints_dir(node_dir), f'step-{step:07d}')


def list_checkpoints(node_dir):
    d = checkpoints_dir(node_dir)
    names = os.listdir(d) if os.path.isdir(d) else []
    return sorted(int(n[5:]) for n in names if n.startswith('step-') and n[5:].isdigit())


def fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(node_dir, tensors, state, keep):
    final = step_dir(node_dir, state['step'])
    tmp = f'{final}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name, named in tensors.items():
        f = os.path.join(tmp, f'{name}.safetensors')
        safetensors_io.save(f, named, {'step': str(state['step'])})
        fsync_path(f)
    f = os.path.join(tmp, 'state.json')
    with open(f, 'w') as fh:
        json.dump(state, fh)
    fsync_path(f)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    fsync_path(os.path.dirname(final))
    for old in list_checkpoints(node_dir)[:-keep]:
        shutil.rmtree(step_dir(node_dir, old), ignore_errors=True)


def noise_and_time(seed, step, rank, shape, time_sampling):
    """Per (seed, step, rank), so a resumed run draws what the uninterrupted one drew."""
    g = torch.Generator().manual_seed(derive_seed(seed, f'torch:{step}:{rank}'))
    n = torch.randn(shape, generator=g)
    if time_sampling == 'logit_normal':
        t = torch.sigmoid(torch.randn(shape[0], generator=g))
    else:
        t = torch.rand(shape[0], generator=g)
    return n, t


def main(plan_file):
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints where a hung rank is
    plan = load_plan(plan_file)
    world, rank, local = int(os.environ.get('WORLD_SIZE', '1')), int(os.environ.get('RANK', '0')), int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available() and plan.get('device', 'auto') != 'cpu'
    device = torch.device(f'cuda:{local}' if cuda else 'cpu')
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        torch.set_num_threads(int(os.environ.get('MIRO_TORCH_THREADS', '1')))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group('nccl' if cuda else 'gloo')
    B = plan['batch_size']
    if B % world:
        raise SystemExit(f'batch_size {B} does not split evenly over {world} ranks')
    local_batch = B // world
    cfg, node_dir, o = plan['model'], plan['dir'], plan['optim']
    init, _ = safetensors_io.load(plan['init'])
    model = MiroNet(cfg, init).to(device)
    adam = AdamW(model.named(), o)
    stream = Stream(plan["data"], rank, world, default_reader(plan["data"], plan_file))
    batcher = Batcher(plan['data'], cfg)
    metrics, start = [], 0

    steps = list_checkpoints(node_dir)
    if steps:
        d = step_dir(node_dir, steps[-1])
        state = json.load(open(os.path.join(d, 'state.json')))
        if json.dumps(state['config'], sort_keys=True) != json.dumps(cfg, sort_keys=True):
            raise SystemExit(f'checkpoint {d} was made with another model config; remove it or use --force')
        cursors = state.get('cursors') or [state['cursor']]
        if len(cursors) != world:
            raise SystemExit(f'checkpoint {d} was written by {len(cursors)} rank(s); resume it with {len(cursors)}, not {world}')
        loaded = {k: safetensors_io.load(os.path.join(d, f'{k}.safetensors'))[0] for k in ('model', 'ema', 'adam_m', 'adam_v')}
        model.load_named(loaded['model'])
        with torch.no_grad():
            for k in adam.ema:
                adam.ema[k].copy_(loaded['ema'][k])
                adam.m[k].copy_(loaded['adam_m'][k])
                adam.v[k].copy_(loaded['adam_v'][k])
        stream.cursor = dict(cursors[rank])
        metrics, start = state['metrics'], state['step']
        if rank == 0:
            log(f"resumed from {d} (step {start}, written by engine {state.get('engine', 'tfjs')})")
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None)
    eval_dir = os.path.join(node_dir, '_torch', 'eval')
    os.makedirs(eval_dir, exist_ok=True)
    autocast = (lambda: torch.autocast('cuda', dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    total, t_start = plan['steps'], time.time()
    if rank == 0:
        log(f'{world} rank(s) on {device.type}, {local_batch} examples each, steps {start + 1}..{total}')
    for step in range(start, total):
        t0 = time.time()
        rows, epoch = stream.next_rows(local_batch)
        b = batcher(rows, epoch)
        n, t = noise_and_time(plan['seed'], step, rank, tuple(b['x'].shape), plan['time_sampling'])
        args = [v.to(device) for v in (b['x'], n, t, b['text'], b['text_mask'], b['rewards'], b['reward_mask'])]
        for p in model.parameters():
            p.grad = None
        with autocast():
            loss = flow_loss(net, *args)
        loss.backward()  # DDP averages the gradients: the global batch's mean loss
        loss = loss.detach().float()
        if world > 1:
            torch.distributed.all_reduce(loss)
            loss = loss / world
        grad_norm, lr = adam.apply(step)
        loss = float(loss)
        if not math.isfinite(loss):
            raise SystemExit(f'loss is {loss} at step {step + 1}; lower the learning rate')
        done = step + 1
        metrics.append({'step': done, 'epoch': epoch, 'loss': loss, 'lr': lr, 'grad_norm': grad_norm, 'examples_per_s': B / (time.time() - t0)})
        if rank == 0 and (done % 10 == 0 or done == total):
            rate = (done - start) / (time.time() - t_start)
            log(f'step {done}/{total} loss {loss:.4f} {rate:.2f} steps/s ETA {(total - done) / max(rate, 1e-9):.0f}s')
        if rank == 0 and plan['eval_every'] and (done % plan['eval_every'] == 0 or done == total):
            f = os.path.join(eval_dir, f'step-{done:07d}.safetensors')
            safetensors_io.save(f + '.tmp', adam.ema)
            os.replace(f + '.tmp', f)
        if done % plan['checkpoint_every'] == 0 or done == total:
            cursors = [None] * world
            if world > 1:
                torch.distributed.all_gather_object(cursors, stream.cursor)
            else:
                cursors = [stream.cursor]
            if rank == 0:
                state = {'step': done, 'cursor': cursors[0], 'cursors': cursors, 'rng': 0, 'config': cfg, 'metrics': metrics,
                         'data_source': plan['data_source'], 'backend': f'torch-{device.type}', 'engine': 'torch', 'world': world}
                save_checkpoint(node_dir, {'model': model.named(), 'ema': adam.ema, 'adam_m': adam.m, 'adam_v': adam.v}, state, plan['keep_checkpoints'])
            if world > 1:
                torch.distributed.barrier()
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
