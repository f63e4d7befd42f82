"""The learnability study: how many training examples a candidate generator needs before it draws
what mini-GenEval asks for, on the demo's own world (bench/learnability/world.yaml, exported to
NumPy by export.ts). Every --eval-every examples it samples every mini-GenEval prompt from the EMA
weights (all rewards at 1, unguided and with the `all` preset's guidance) and saves the images;
judge.ts scores them with the project's detector, with a chance control shuffled within each tag.

  python3 bench/learnability/study.py --arch unet --examples 2000000 --out bench/learnability/out/unet

Candidates (--arch): `unet`, a small pixel-space U-Net with cross-attention to the text and reward
tokens at 8 and 16 px; `rin`, the demo's `tiny` network (the torch engine's MiroNet, fed the same
data). Same data, caption mix (half alt text, half long captions), 10% caption dropout,
flow-matching loss, AdamW with warm-up, EMA and Euler sampler for both.

A run checkpoints into --out (checkpoint.safetensors: weights, EMA, Adam moments, both generators)
at every evaluation and every --checkpoint-minutes, and the same command resumes it exactly, so a
2M-example run on a CPU can span several sittings.
"""
import argparse, contextlib, json, math, os, sys, time
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))


def fourier(v, n):
    freqs = torch.tensor([math.pi * 2 ** i for i in range(n)], dtype=v.dtype, device=v.device)
    a = v.reshape(-1, 1) * freqs
    return torch.cat([a.sin(), a.cos()], 1)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.g = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.g


class Attention(nn.Module):
    """Pre-norm multi-head attention with QK-norm and a residual; kv_mask [B, Tk] hides padding."""

    def __init__(self, d, heads, d_kv=None):
        super().__init__()
        d_kv = d_kv or d
        self.h, self.dh = heads, d // heads
        self.q, self.o = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.k, self.v = nn.Linear(d_kv, d, bias=False), nn.Linear(d_kv, d, bias=False)
        self.qn, self.kn = RMSNorm(self.dh), RMSNorm(self.dh)
        self.norm_q, self.norm_kv = RMSNorm(d), RMSNorm(d_kv)

    def forward(self, xq, xkv=None, kv_mask=None):
        self_attn = xkv is None
        B, Tq, D = xq.shape
        q_in = self.norm_q(xq)
        kv_in = q_in if self_attn else self.norm_kv(xkv)
        Tk = kv_in.shape[1]
        q = self.qn(self.q(q_in).view(B, Tq, self.h, self.dh).transpose(1, 2))
        k = self.kn(self.k(kv_in).view(B, Tk, self.h, self.dh).transpose(1, 2))
        v = self.v(kv_in).view(B, Tk, self.h, self.dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        if kv_mask is not None:
            s = s + (1 - kv_mask)[:, None, None, :] * -1e9
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, Tq, D)
        return xq + self.o(o)


class SwiGLU(nn.Module):
    def __init__(self, d, ratio=2):
        super().__init__()
        self.w1, self.w3 = nn.Linear(d, d * ratio, bias=False), nn.Linear(d, d * ratio, bias=False)
        self.w2, self.norm = nn.Linear(d * ratio, d, bias=False), RMSNorm(d)

    def forward(self, x):
        h = self.norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Condition(nn.Module):
    """Caption tokens through a small learned encoder, plus one token per reward (Fourier features
    of the target, an MLP, a learned position; a missing reward is its learned `missing` token)."""

    def __init__(self, vocab, T, D, layers, rewards, F_=8):
        super().__init__()
        self.F = F_
        self.embed = nn.Embedding(vocab, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        self.layers = nn.ModuleList([nn.ModuleList([Attention(D, 4), SwiGLU(D)]) for _ in range(layers)])
        self.R = rewards
        if rewards:
            self.reward = nn.Sequential(nn.Linear(2 * F_, D, bias=False), nn.SiLU(), nn.Linear(D, D, bias=False))
            self.rpos = nn.Parameter(torch.randn(rewards, D) * 0.02)
            self.rmissing = nn.Parameter(torch.randn(rewards, D) * 0.02)

    def forward(self, tokens, rewards):
        mask = (tokens != 0).float()
        mask[:, 0] = 1
        x = self.embed(tokens) + self.pos
        for attn, mlp in self.layers:
            x = mlp(attn(x, x, mask))
        if not self.R:
            return x, mask
        B, R = rewards.shape
        present = (~torch.isnan(rewards)).float().view(B, R, 1)
        tok = self.reward(fourier(torch.nan_to_num(rewards), self.F)).view(B, R, -1) + self.rpos
        tok = tok * present + (1 - present) * self.rmissing
        return torch.cat([x, tok], 1), torch.cat([mask, torch.ones(B, R, device=mask.device)], 1)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, twice; the condition vector scales and shifts the second norm."""

    def __init__(self, cin, cout, demb):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(demb, 2 * cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, 1)
        h = self.c2(F.silu(self.n2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class SpatialAttention(nn.Module):
    """Self-attention over the grid (at 8 px only: at 16 px it costs more than the rest), then
    cross-attention to the condition tokens."""

    def __init__(self, c, dcond, heads=4, self_attention=True):
        super().__init__()
        self.self_attn = Attention(c, heads) if self_attention else nn.Identity()
        self.cross, self.mlp = Attention(c, heads, dcond), SwiGLU(c)

    def forward(self, x, cond, cond_mask):
        B, C, H, W = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = self.mlp(self.cross(self.self_attn(t), cond, cond_mask))
        return t.transpose(1, 2).reshape(B, C, H, W)


class UNet(nn.Module):
    def __init__(self, vocab, T, rewards, ch=(32, 64, 128), dcond=64, text_layers=1):
        super().__init__()
        c1, c2, c3 = ch
        demb = 4 * c1
        self.cond = Condition(vocab, T, dcond, text_layers, rewards)
        self.time = nn.Sequential(nn.Linear(32, demb), nn.SiLU(), nn.Linear(demb, demb))
        self.pool = nn.Linear(dcond, demb)
        self.inp = nn.Conv2d(3, c1, 3, padding=1)
        self.d1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)  # 32 -> 16
        self.r16a = ResBlock(c2, c2, demb)
        self.a16a = SpatialAttention(c2, dcond, self_attention=False)
        self.d2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)  # 16 -> 8
        self.r8a, self.a8a = ResBlock(c3, c3, demb), SpatialAttention(c3, dcond)
        self.r8b, self.a8b = ResBlock(c3, c3, demb), SpatialAttention(c3, dcond)
        self.u2 = nn.Conv2d(c3, c2, 1)  # 8 -> 16
        self.r16b = ResBlock(2 * c2, c2, demb)
        self.a16b = SpatialAttention(c2, dcond, self_attention=False)
        self.u1 = nn.Conv2d(c2, c1, 1)  # 16 -> 32
        self.r32 = ResBlock(2 * c1, c1, demb)
        self.out_norm, self.out = nn.GroupNorm(8, c1), nn.Conv2d(c1, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, tokens, rewards):
        cond, mask = self.cond(tokens, rewards)
        pooled = (cond * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        emb = self.time(fourier(t, 16)) + self.pool(pooled)
        x = x.permute(0, 3, 1, 2)  # [B, 3, 32, 32]
        h32 = self.inp(x)
        h16 = self.a16a(self.r16a(self.d1(h32), emb), cond, mask)
        h = self.d2(h16)
        h = self.a8a(self.r8a(h, emb), cond, mask)
        h = self.a8b(self.r8b(h, emb), cond, mask)
        h = F.interpolate(self.u2(h), scale_factor=2, mode='nearest')
        h = self.a16b(self.r16b(torch.cat([h, h16], 1), emb), cond, mask)
        h = F.interpolate(self.u1(h), scale_factor=2, mode='nearest')
        h = self.r32(torch.cat([h, h32], 1), emb)
        return self.out(F.silu(self.out_norm(h))).permute(0, 2, 3, 1)


class UNet16(nn.Module):
    """A U-Net on 2x2 pixel blocks: 32 px -> 16 px x 12 channels (pixel unshuffle), levels at 16 and
    8 px, FiLM from time and the pooled condition in every ResBlock, cross-attention to the text and
    reward tokens at both levels, self-attention at 8 px only."""

    def __init__(self, vocab, T, rewards, ch=(64, 128), dcond=64, text_layers=1):
        super().__init__()
        c1, c2 = ch
        demb = 4 * c1
        self.cond = Condition(vocab, T, dcond, text_layers, rewards)
        self.time = nn.Sequential(nn.Linear(32, demb), nn.SiLU(), nn.Linear(demb, demb))
        self.pool = nn.Linear(dcond, demb)
        self.inp = nn.Conv2d(12, c1, 3, padding=1)
        self.r16a, self.a16a = ResBlock(c1, c1, demb), SpatialAttention(c1, dcond, self_attention=False)
        self.down = nn.Conv2d(c1, c2, 3, stride=2, padding=1)  # 16 -> 8
        self.r8a, self.a8a = ResBlock(c2, c2, demb), SpatialAttention(c2, dcond)
        self.r8b, self.a8b = ResBlock(c2, c2, demb), SpatialAttention(c2, dcond)
        self.up = nn.Conv2d(c2, c1, 1)  # 8 -> 16
        self.r16b, self.a16b = ResBlock(2 * c1, c1, demb), SpatialAttention(c1, dcond, self_attention=False)
        self.out_norm, self.out = nn.GroupNorm(8, c1), nn.Conv2d(c1, 12, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, tokens, rewards):
        cond, mask = self.cond(tokens, rewards)
        pooled = (cond * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        emb = self.time(fourier(t, 16)) + self.pool(pooled)
        h = F.pixel_unshuffle(x.permute(0, 3, 1, 2), 2)  # [B, 12, 16, 16]
        h16 = self.a16a(self.r16a(self.inp(h), emb), cond, mask)
        h = self.a8a(self.r8a(self.down(h16), emb), cond, mask)
        h = self.a8b(self.r8b(h, emb), cond, mask)
        h = F.interpolate(self.up(h), scale_factor=2, mode='nearest')
        h = self.a16b(self.r16b(torch.cat([h, h16], 1), emb), cond, mask)
        h = self.out(F.silu(self.out_norm(h)))  # [B, 12, 16, 16]
        return F.pixel_shuffle(h, 2).permute(0, 2, 3, 1)


class RinAdapter(nn.Module):
    """The demo's `tiny` RIN: the torch engine's own network (python/miro_torch), given the study's inputs."""

    def __init__(self, vocab, T, rewards, preset='tiny'):
        super().__init__()
        from miro_torch.bench import init, load_preset
        from miro_torch.network import MiroNet

        c = load_preset(preset)
        c['text'] = {**c['text'], 'max_tokens': T, 'vocab': [f'w{i}' for i in range(vocab)]}
        c['rewards'] = c['rewards'][:rewards]
        self.m = MiroNet(c, init(c))

    def forward(self, x, t, tokens, rewards):
        mask = (tokens != 0).float()
        mask[:, 0] = 1
        present = (~torch.isnan(rewards)).float()
        return self.m(x, t, tokens, mask, torch.nan_to_num(rewards), present)


def build(arch, vocab, T, R):
    if arch == 'unet16':
        return UNet16(vocab, T, R)
    if arch == 'unet16-small':
        return UNet16(vocab, T, R, ch=(48, 96))
    if arch == 'unet':
        return UNet(vocab, T, R)
    if arch == 'unet-small':
        return UNet(vocab, T, R, ch=(24, 48, 96), dcond=48)
    if arch == 'rin':
        return RinAdapter(vocab, T, R)
    raise SystemExit(f'unknown --arch {arch}')


@torch.no_grad()
def sample(model, tokens, pos, neg, guidance, steps, seed):
    """Euler from t = 1 to 0; v = v(s+) + w (v(s+) - v(s-)) with the same caption."""
    g = torch.Generator().manual_seed(seed)
    B, dev = tokens.shape[0], tokens.device
    x = torch.randn(B, 32, 32, 3, generator=g).to(dev)  # drawn on the CPU: the same noise on any device
    for i in range(steps):
        t = 1 - i / steps
        tt = torch.full((B,), t, device=dev)
        if guidance:
            v2 = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([tokens, tokens]), torch.cat([pos, neg]))
            vp, vn = v2[:B], v2[B:]
            v = vp + guidance * (vp - vn)
        else:
            v = model(x, tt, tokens, pos)
        x = x - v / steps
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def save_checkpoint(path, model, ema, opt, rng, step, seconds, args):
    """Everything a resumed run needs to go on exactly: weights, EMA, Adam moments, both generators.
    safetensors (F32: the torch generator's state bytes are exact in it) and a JSON metadata entry."""
    from miro_torch import safetensors_io

    names = dict(model.named_parameters())
    tensors = {f'model.{k}': v for k, v in model.state_dict().items()}
    tensors.update({f'ema.{k}': v for k, v in ema.state_dict().items()})
    for k, p in names.items():
        st = opt.state.get(p)
        if st:
            tensors[f'adam_m.{k}'] = st['exp_avg']
            tensors[f'adam_v.{k}'] = st['exp_avg_sq']
    tensors['torch_rng'] = torch.get_rng_state().float()
    meta = {'step': str(step), 'seconds': str(seconds), 'np_rng': json.dumps(rng.bit_generator.state), 'args': json.dumps(vars(args))}
    safetensors_io.save(path + '.tmp', tensors, meta)
    os.replace(path + '.tmp', path)  # whole or not at all


def load_checkpoint(path, model, ema, opt, rng, args):
    from miro_torch import safetensors_io

    tensors, meta = safetensors_io.load(path)
    saved = json.loads(meta['args'])
    for key in ('arch', 'examples', 'batch', 'lr', 'seed'):
        if saved[key] != getattr(args, key):
            sys.exit(f'{path}: was written with --{key} {saved[key]}, not {getattr(args, key)}; use another --out')
    dev = next(model.parameters()).device
    model.load_state_dict({k[6:]: v.to(dev) for k, v in tensors.items() if k.startswith('model.')})
    ema.load_state_dict({k[4:]: v.to(dev) for k, v in tensors.items() if k.startswith('ema.')})
    step = int(meta['step'])
    for k, p in model.named_parameters():
        if f'adam_m.{k}' in tensors:
            opt.state[p] = {'step': torch.tensor(float(step)), 'exp_avg': tensors[f'adam_m.{k}'].to(dev), 'exp_avg_sq': tensors[f'adam_v.{k}'].to(dev)}
    torch.set_rng_state(tensors['torch_rng'].to(torch.uint8))
    rng.bit_generator.state = json.loads(meta['np_rng'])
    return step + 1, float(meta['seconds'])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='unet')
    ap.add_argument('--data', default=os.path.join(HERE, 'out', 'world'))
    ap.add_argument('--out', required=True)
    ap.add_argument('--examples', type=int, default=2_000_000)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--eval-every', type=int, default=100_000, help='0: never (a resume check)')
    ap.add_argument('--eval-steps', type=int, default=20)
    ap.add_argument('--guidance', type=float, default=3.0)
    ap.add_argument('--t-dist', default='logit-normal', choices=['logit-normal', 'uniform'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--checkpoint-minutes', type=float, default=10.0)
    args = ap.parse_args()
    # Debian's torch calls OpenBLAS through the plain BLAS interface, so torch cannot cap its threads:
    # run with OPENBLAS_NUM_THREADS=1 (set below before numpy or torch load it, when unset).
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    images = np.load(os.path.join(args.data, 'images.npy'))
    tokens = torch.from_numpy(np.load(os.path.join(args.data, 'tokens.npy')).astype(np.int64))
    targets = torch.from_numpy(np.load(os.path.join(args.data, 'targets.npy')))
    held = np.load(os.path.join(args.data, 'held_out.npy')).astype(bool)
    prompts = torch.from_numpy(np.load(os.path.join(args.data, 'prompt_tokens.npy')).astype(np.int64))
    meta = json.load(open(os.path.join(args.data, 'meta.json')))
    train_idx = np.flatnonzero(~held)
    x_all = torch.from_numpy(images).float() / 127.5 - 1
    N, T, R = len(train_idx), tokens.shape[2], targets.shape[1]

    dev = torch.device(args.device)
    model = build(args.arch, meta['vocab'], T, R).to(dev)
    ema = build(args.arch, meta['vocab'], T, R).to(dev)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    rng = np.random.default_rng(args.seed)
    B = args.batch
    total_steps = args.examples // B
    warmup = 500
    log = open(os.path.join(args.out, 'log.jsonl'), 'a')
    print(json.dumps({'arch': args.arch, 'params': params, 'train_rows': int(N), 'T': T}), file=log, flush=True)
    ones, zeros = torch.ones(len(prompts), R, device=dev), torch.zeros(len(prompts), R, device=dev)
    prompts = prompts.to(dev)
    autocast = (lambda: torch.autocast('cuda', dtype=torch.bfloat16)) if dev.type == 'cuda' else contextlib.nullcontext
    ckpt = os.path.join(args.out, 'checkpoint.safetensors')
    first, before = 1, 0.0
    if os.path.exists(ckpt):  # resume: a run killed (or a session ended) goes on where it stopped
        first, before = load_checkpoint(ckpt, model, ema, opt, rng, args)
        print(json.dumps({'resumed_at_step': first - 1}), flush=True)
    t0 = time.time() - before
    last_save = time.time()
    losses = []
    for step in range(first, total_steps + 1):
        idx = train_idx[rng.integers(0, N, B)]
        x = x_all[idx].to(dev, non_blocking=True)
        which = torch.from_numpy(rng.integers(0, 2, B))  # 0 = real (alt text), 1 = long caption
        tok = tokens[idx, which].to(dev)
        drop = torch.from_numpy(rng.random(B) < 0.1)
        tok[drop.to(dev)] = 0
        r = targets[idx].to(dev)
        n = torch.randn_like(x)
        t = torch.sigmoid(torch.randn(B, device=dev)) if args.t_dist == 'logit-normal' else torch.rand(B, device=dev)
        tb = t.view(B, 1, 1, 1)
        with autocast():
            loss = (model((1 - tb) * x + tb * n, t, tok, r).float() - (n - x)).pow(2).mean()
        lr = args.lr * min(1, step / warmup) * (0.5 + 0.5 * math.cos(math.pi * step / total_steps))
        for gr in opt.param_groups:
            gr['lr'] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        losses.append(loss.item())
        seen = step * B
        if step % 200 == 0:
            el = time.time() - t0
            print(json.dumps({'progress': seen, 'loss': round(float(np.mean(losses[-200:])), 4), 'examples_per_s': round(seen / el, 1)}), flush=True)
        evaluating = args.eval_every > 0 and (seen % args.eval_every < B or step == total_steps)
        if evaluating or time.time() - last_save > 60 * args.checkpoint_minutes:
            save_checkpoint(ckpt, model, ema, opt, rng, step, time.time() - t0, args)
            last_save = time.time()
        if evaluating:
            ema.eval()
            for name, w in (('w0', 0.0), ('guided', args.guidance)):
                imgs = np.concatenate([sample(ema, prompts[i:i + 60], ones[i:i + 60], zeros[i:i + 60], w, args.eval_steps, 1000 + i) for i in range(0, len(prompts), 60)])
                np.save(os.path.join(args.out, f'samples-{seen:09d}-{name}.npy'), imgs)
            el = time.time() - t0
            rec = {'examples': seen, 'step': step, 'loss': float(np.mean(losses[-200:])), 'seconds': round(el, 1), 'examples_per_s': round(seen / el, 1)}
            print(json.dumps(rec), file=log, flush=True)
            print(json.dumps(rec), flush=True)
    from miro_torch import safetensors_io

    safetensors_io.save(os.path.join(args.out, 'ema.safetensors'), dict(ema.state_dict()))  # never a pickle


if __name__ == '__main__':
    main()
