"""The same MIRO network and training step as src/model/network.ts, in PyTorch, timed on this CPU.

Used by bench/train.ts for a like-for-like comparison: same presets (read from configs/models),
batch, sequence lengths, AdamW + EMA update. Prints `BENCH train.<preset>_steps_per_s_torch`.
"""
import argparse, math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def load_preset(name):
    cfg = {}
    for line in open(os.path.join(HERE, '..', 'configs', 'models', name + '.yaml')):
        line = line.split('#')[0].strip()
        if not line or ':' not in line:
            continue
        k, v = line.split(':', 1)
        v = v.strip()
        if v.startswith('{'):
            cfg[k] = dict(p.split(':') for p in v.strip('{}').replace(' ', '').split(','))
        elif v in ('true', 'false'):
            cfg[k] = v == 'true'
        else:
            cfg[k] = int(v)
    return cfg


def sincos2d(g, D):
    """Fixed 2-D sin-cos positions, as sincos2d in src/model/network.ts."""
    q = D // 4
    f = 1 / 100 ** (torch.arange(q) / q)
    r, c = torch.meshgrid(torch.arange(g), torch.arange(g), indexing='ij')
    r, c = r.reshape(-1, 1).float(), c.reshape(-1, 1).float()
    return torch.cat([torch.sin(r * f), torch.cos(r * f), torch.sin(c * f), torch.cos(c * f)], 1)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__(); self.g = nn.Parameter(torch.ones(d))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.g


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.qn, self.kn, self.norm = RMSNorm(self.dh), RMSNorm(self.dh), RMSNorm(d)
    def forward(self, xq, xkv, mask=None):
        B, Tq, D = xq.shape; Tk = xkv.shape[1]
        q_in, kv_in = self.norm(xq), self.norm(xkv)
        q = self.qn(self.q(q_in).view(B, Tq, self.h, self.dh).transpose(1, 2))
        k = self.kn(self.k(kv_in).view(B, Tk, self.h, self.dh).transpose(1, 2))
        v = self.v(kv_in).view(B, Tk, self.h, self.dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        if mask is not None:
            s = s + (1 - mask)[:, None, None, :] * -1e9
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, Tq, D)
        return xq + self.o(o)


class SwiGLU(nn.Module):
    def __init__(self, d, ratio):
        super().__init__()
        self.w1, self.w3 = nn.Linear(d, d * ratio, bias=False), nn.Linear(d, d * ratio, bias=False)
        self.w2, self.norm = nn.Linear(d * ratio, d, bias=False), RMSNorm(d)
    def forward(self, x):
        h = self.norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Miro(nn.Module):
    def __init__(self, c, rewards, vocab=120):
        super().__init__()
        D, H, self.c = c['dim'], c['heads'], c
        self.p, self.g = c['patch'], c['image_size'] // c['patch']
        P, N, F2 = self.p * self.p * c['channels'], self.g * self.g, 2 * c['fourier_features']
        self.T = int(c['text']['max_tokens'])
        self.patch, self.pos = nn.Linear(P, D, bias=False), nn.Parameter(torch.randn(N, D) * 0.02)
        self.latents = nn.Parameter(torch.randn(c['latents'], D) * 0.02)
        self.time = nn.Sequential(nn.Linear(F2, D, bias=False), nn.SiLU(), nn.Linear(D, D, bias=False))
        self.embed, self.tpos = nn.Linear(vocab, D, bias=False), nn.Parameter(torch.randn(self.T, D) * 0.02)
        self.text = nn.ModuleList([nn.ModuleList([Attention(D, H), SwiGLU(D, c['mlp_ratio'])]) for _ in range(int(c['text']['layers']))])
        self.reward = nn.Sequential(nn.Linear(F2, D, bias=False), nn.SiLU(), nn.Linear(D, D, bias=False))
        self.rpos, self.rmissing = nn.Parameter(torch.randn(rewards, D) * 0.02), nn.Parameter(torch.randn(rewards, D) * 0.02)
        def block():
            m = nn.ModuleDict({'read': Attention(D, H), 'read_mlp': SwiGLU(D, c['mlp_ratio']), 'write': Attention(D, H), 'write_mlp': SwiGLU(D, c['mlp_ratio'])})
            m['self'] = nn.ModuleList([nn.ModuleList([Attention(D, H), SwiGLU(D, c['mlp_ratio'])]) for _ in range(c['self_per_block'])])
            return m
        self.blocks = nn.ModuleList([block() for _ in range(c['blocks'])])
        self.out_norm, self.out = RMSNorm(D), nn.Linear(D, P, bias=False)
        self.fixed = sincos2d(self.g, D) if c.get('fixed_positions') else None
        # 3x3 mixing of the data tokens after each write, as `local_mix` in network.ts.
        self.mix = nn.ModuleList([nn.Sequential(RMSNorm(D), nn.Linear(9 * D, D, bias=False)) for _ in range(c['blocks'])]) if c.get('local_mix') else None
        self.freqs = torch.tensor([math.pi * 2 ** i for i in range(c['fourier_features'])])
        self.vocab = vocab

    def fourier(self, v):
        a = v.reshape(-1, 1) * self.freqs
        return torch.cat([a.sin(), a.cos()], 1)

    def forward(self, x, t, text, text_mask, rewards, reward_mask):
        B, p, g, C = x.shape[0], self.p, self.g, self.c['channels']
        X = self.patch(x.view(B, g, p, g, p, C).permute(0, 1, 3, 2, 4, 5).reshape(B, g * g, p * p * C)) + self.pos
        if self.fixed is not None:
            X = X + self.fixed
        time = self.time(self.fourier(t)).view(B, 1, -1)
        tx = self.embed(F.one_hot(text, self.vocab).float()) + self.tpos
        for attn, mlp in self.text:
            tx = mlp(attn(tx, tx, text_mask))
        R = rewards.shape[1]
        tok = self.reward(self.fourier(rewards)).view(B, R, -1) + self.rpos
        m = reward_mask.view(B, R, 1)
        tok = tok * m + (1 - m) * self.rmissing
        cond = torch.cat([tx, tok, time], 1)
        read_mask = torch.cat([torch.ones(B, X.shape[1]), text_mask, torch.ones(B, R + 1)], 1)
        Z = self.latents.expand(B, -1, -1) + time
        for i, b in enumerate(self.blocks):
            Z = b['read_mlp'](b['read'](Z, torch.cat([X, cond], 1), read_mask))
            for attn, mlp in b['self']:
                Z = mlp(attn(Z, Z))
            X = b['write_mlp'](b['write'](X, Z))
            if self.mix is not None:
                G = F.pad(self.mix[i][0](X).view(B, g, g, -1), (0, 0, 1, 1, 1, 1))
                X = X + self.mix[i][1](torch.cat([G[:, dy:dy + g, dx:dx + g] for dy in range(3) for dx in range(3)], -1).view(B, g * g, -1))
        out = self.out(self.out_norm(X))
        return out.view(B, g, g, p, p, C).permute(0, 1, 3, 2, 4, 5).reshape(B, g * p, g * p, C)


PRESETS = ['tiny-patchwise', 'tiny', 'small']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    B = args.batch
    for preset in PRESETS:
        c = load_preset(preset)
        model = Miro(c, 7)
        ema = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.01)
        T = model.T
        x, n, t = torch.randn(B, 32, 32, 3), torch.randn(B, 32, 32, 3), torch.rand(B)
        text, tmask = torch.zeros(B, T, dtype=torch.long), torch.ones(B, T)
        rw, rmask = torch.rand(B, 7), torch.ones(B, 7)
        def step():
            tb = t.view(B, 1, 1, 1)
            xt = (1 - tb) * x + tb * n
            loss = (model(xt, t, text, tmask, rw, rmask) - (n - x)).pow(2).mean()
            opt.zero_grad(); loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for e, p in zip(ema, model.parameters()):
                    e.mul_(0.99).add_(p, alpha=0.01)
            return loss.item()
        for _ in range(3):
            step()
        N = 6 if preset == 'small' else 20
        t0 = time.perf_counter()
        for _ in range(N):
            step()
        secs = time.perf_counter() - t0
        print(f'BENCH train.{preset}_steps_per_s_torch {N / secs:.3g} steps/s')
        print(f'BENCH train.{preset}_examples_per_s_torch {N * B / secs:.3g} examples/s')
        print(f'# torch {torch.__version__}, threads {torch.get_num_threads()}, params {sum(p.numel() for p in model.parameters())}')


if __name__ == '__main__':
    main()
