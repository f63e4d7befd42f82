"""The MIRO network (TextRIN family) in PyTorch, read top to bottom like src/model/network.ts:
parameter specs, then the layers, then the forward pass with tensor shapes in comments. Weights
are kept flat under the TypeScript names ("block.0.read.wq", [in, out] matrices), so the same
safetensors file loads in either engine. The config is the model's config.json (a ModelConfig).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _attn_specs(prefix, D, heads):
    std = 1 / math.sqrt(D)
    specs = [(f'{prefix}.w{n}', [D, D], ('std', std)) for n in 'qkvo']
    return specs + [(f'{prefix}.q_norm', [D // heads], ('value', 1.0)), (f'{prefix}.k_norm', [D // heads], ('value', 1.0)), (f'{prefix}.norm', [D], ('value', 1.0))]


def _mlp_specs(prefix, D, ratio):
    H = D * ratio
    return [(f'{prefix}.w1', [D, H], ('std', 1 / math.sqrt(D))), (f'{prefix}.w3', [D, H], ('std', 1 / math.sqrt(D))),
            (f'{prefix}.w2', [H, D], ('std', 1 / math.sqrt(H))), (f'{prefix}.norm', [D], ('value', 1.0))]


def param_specs(cfg):
    """(name, shape, init) in the order of paramSpecs in network.ts."""
    D, P = cfg['dim'], cfg['patch'] * cfg['patch'] * cfg['channels']
    N = (cfg['image_size'] // cfg['patch']) ** 2
    F2 = 2 * cfg['fourier_features']
    specs = [('patch.w', [P, D], ('std', 1 / math.sqrt(P))), ('patch.pos', [N, D], ('std', 0.02)), ('latents', [cfg['latents'], D], ('std', 0.02)),
             ('time.w1', [F2, D], ('std', 1 / math.sqrt(F2))), ('time.w2', [D, D], ('std', 1 / math.sqrt(D))),
             ('out.norm', [D], ('value', 1.0)), ('out.w', [D, P], ('std', 0.1 / math.sqrt(D)))]
    text = cfg['text']
    if text['kind'] == 'learned':
        specs += [('text.embed', [len(text['vocab']), D], ('std', 0.02)), ('text.pos', [text['max_tokens'], D], ('std', 0.02))]
        for l in range(text['layers']):
            specs += _attn_specs(f'text.{l}.attn', D, cfg['heads']) + _mlp_specs(f'text.{l}.mlp', D, cfg['mlp_ratio'])
    else:
        specs.append(('text.proj', [text['embed_dim'], D], ('std', 1 / math.sqrt(text['embed_dim']))))
    R = len(cfg['rewards'])
    if R:
        specs += [('reward.w1', [F2, D], ('std', 1 / math.sqrt(F2))), ('reward.w2', [D, D], ('std', 1 / math.sqrt(D))),
                  ('reward.pos', [R, D], ('std', 0.02)), ('reward.missing', [R, D], ('std', 0.02))]
    for b in range(cfg['blocks']):
        specs += _attn_specs(f'block.{b}.read', D, cfg['heads']) + _mlp_specs(f'block.{b}.read_mlp', D, cfg['mlp_ratio'])
        for s in range(cfg['self_per_block']):
            specs += _attn_specs(f'block.{b}.self.{s}', D, cfg['heads']) + _mlp_specs(f'block.{b}.self_mlp.{s}', D, cfg['mlp_ratio'])
        specs += _attn_specs(f'block.{b}.write', D, cfg['heads']) + _mlp_specs(f'block.{b}.write_mlp', D, cfg['mlp_ratio'])
        if cfg.get('local_mix'):
            specs += [(f'block.{b}.mix.w', [9 * D, D], ('std', 0.1 / math.sqrt(9 * D))), (f'block.{b}.mix.norm', [D], ('value', 1.0))]
    return specs


def sincos2d(g, D):
    """Fixed 2-D sin-cos positions [g*g, D], computed in float64 as network.ts does, then float32."""
    q = D // 4
    freq = 1 / 100 ** (torch.arange(q, dtype=torch.float64) / q)
    r, c = torch.meshgrid(torch.arange(g, dtype=torch.float64), torch.arange(g, dtype=torch.float64), indexing='ij')
    r, c = r.reshape(-1, 1), c.reshape(-1, 1)
    return torch.cat([torch.sin(r * freq), torch.cos(r * freq), torch.sin(c * freq), torch.cos(c * freq)], 1).float()


class MiroNet(nn.Module):
    def __init__(self, cfg, params=None):
        """`params`: {name: tensor} (a safetensors file's contents); else zeros, to be loaded."""
        super().__init__()
        self.cfg = cfg
        self.names = [n for n, _, _ in param_specs(cfg)]
        self.p = nn.ParameterDict({n.replace('.', '__'): nn.Parameter(torch.zeros(shape)) for n, shape, _ in param_specs(cfg)})
        if params is not None:
            self.load_named(params)
        g = cfg['image_size'] // cfg['patch']
        self.register_buffer('fixed_pos', sincos2d(g, cfg['dim']) if cfg.get('fixed_positions') else torch.zeros(0), persistent=False)
        self.register_buffer('freqs', torch.tensor([math.pi * 2 ** i for i in range(cfg['fourier_features'])], dtype=torch.float32), persistent=False)

    def W(self, name):
        return self.p[name.replace('.', '__')]

    def named(self):
        """{TypeScript name: parameter}."""
        return {n: self.W(n) for n in self.names}

    def load_named(self, params):
        for n in self.names:
            if n not in params:
                raise KeyError(f'missing parameter {n}')
            if list(params[n].shape) != list(self.W(n).shape):
                raise ValueError(f'parameter {n}: shape {list(params[n].shape)}, the config wants {list(self.W(n).shape)}')
            with torch.no_grad():
                self.W(n).copy_(params[n])

    # Layers, as network.ts defines them.
    def linear(self, x, w):
        return x @ self.W(w)  # [*, in] x [in, out]

    @staticmethod
    def rms_norm(x, gain):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * gain

    def attention(self, prefix, xq, xkv, kv_mask):
        B, Tq, D = xq.shape
        Tk, H = xkv.shape[1], self.cfg['heads']
        dh = D // H
        heads = lambda x, T: x.reshape(B, T, H, dh).transpose(1, 2)  # [B, H, T, dh]
        q = self.rms_norm(heads(self.linear(xq, f'{prefix}.wq'), Tq), self.W(f'{prefix}.q_norm'))
        k = self.rms_norm(heads(self.linear(xkv, f'{prefix}.wk'), Tk), self.W(f'{prefix}.k_norm'))
        v = heads(self.linear(xkv, f'{prefix}.wv'), Tk)
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))  # [B, H, Tq, Tk]
        if kv_mask is not None:
            scores = scores + (1 - kv_mask).reshape(B, 1, 1, Tk) * -1e9
        o = scores.softmax(-1) @ v  # [B, H, Tq, dh]
        return self.linear(o.transpose(1, 2).reshape(B, Tq, D), f'{prefix}.wo')

    def swiglu(self, prefix, x):
        h = self.rms_norm(x, self.W(f'{prefix}.norm'))
        return self.linear(F.silu(self.linear(h, f'{prefix}.w1')) * self.linear(h, f'{prefix}.w3'), f'{prefix}.w2')

    def attend(self, prefix, xq, xkv, mask):
        g = self.W(f'{prefix}.norm')
        return xq + self.attention(prefix, self.rms_norm(xq, g), self.rms_norm(xkv, g), mask)

    def fourier(self, v):
        angles = v.reshape(-1, 1) * self.freqs  # [n, F]
        return torch.cat([angles.sin(), angles.cos()], 1)  # [n, 2F]

    def mix_neighbours(self, x, w, g):
        """A 3x3 convolution over the g x g token grid, zero beyond the border: [B, N, D] -> [B, N, D]."""
        B, N, D = x.shape
        G = F.pad(x.reshape(B, g, g, D), (0, 0, 1, 1, 1, 1))
        return torch.cat([G[:, dy:dy + g, dx:dx + g] for dy in range(3) for dx in range(3)], -1).reshape(B, N, 9 * D) @ w

    def forward(self, x, t, text, text_mask, rewards, reward_mask):
        """x [B, S, S, C], t [B], text [B, T] ids or [B, T, E] states, text_mask [B, T], rewards and reward_mask [B, R]."""
        cfg = self.cfg
        D, P, C = cfg['dim'], cfg['patch'], cfg['channels']
        B = x.shape[0]
        g = cfg['image_size'] // P
        N = g * g

        patches = x.reshape(B, g, P, g, P, C).permute(0, 1, 3, 2, 4, 5).reshape(B, N, P * P * C)  # [B, N, P*P*C]
        X = self.linear(patches, 'patch.w') + self.W('patch.pos')  # [B, N, D]
        if cfg.get('fixed_positions'):
            X = X + self.fixed_pos

        time = self.linear(F.silu(self.linear(self.fourier(t), 'time.w1')), 'time.w2')  # [B, D]
        time_tok = time.reshape(B, 1, D)

        if cfg['text']['kind'] == 'learned':
            txt = F.embedding(text.long(), self.W('text.embed')) + self.W('text.pos')  # [B, T, D]
            for l in range(cfg['text']['layers']):
                txt = self.attend(f'text.{l}.attn', txt, txt, text_mask)
                txt = txt + self.swiglu(f'text.{l}.mlp', txt)
        else:
            txt = self.linear(text, 'text.proj')  # [B, T, D]

        parts, masks = [txt], [text_mask]
        R = len(cfg['rewards'])
        if R:
            tok = self.linear(F.silu(self.linear(self.fourier(rewards), 'reward.w1')), 'reward.w2').reshape(B, R, D) + self.W('reward.pos')
            m = reward_mask.reshape(B, R, 1)
            tok = tok * m + (1 - m) * self.W('reward.missing')
            parts.append(tok)
            masks.append(torch.ones_like(reward_mask))
        parts.append(time_tok)
        masks.append(torch.ones(B, 1, dtype=x.dtype, device=x.device))
        cond = torch.cat(parts, 1)  # [B, T+R+1, D]

        Z = self.W('latents').reshape(1, cfg['latents'], D).expand(B, -1, -1) + time_tok  # [B, L, D]
        read_mask = torch.cat([torch.ones(B, N, dtype=x.dtype, device=x.device)] + masks, 1)
        for b in range(cfg['blocks']):
            Z = self.attend(f'block.{b}.read', Z, torch.cat([X, cond], 1), read_mask)
            Z = Z + self.swiglu(f'block.{b}.read_mlp', Z)
            for s in range(cfg['self_per_block']):
                Z = self.attend(f'block.{b}.self.{s}', Z, Z, None)
                Z = Z + self.swiglu(f'block.{b}.self_mlp.{s}', Z)
            X = self.attend(f'block.{b}.write', X, Z, None)
            X = X + self.swiglu(f'block.{b}.write_mlp', X)
            if cfg.get('local_mix'):
                X = X + self.mix_neighbours(self.rms_norm(X, self.W(f'block.{b}.mix.norm')), self.W(f'block.{b}.mix.w'), g)

        out = self.linear(self.rms_norm(X, self.W('out.norm')), 'out.w')  # [B, N, P*P*C]
        return out.reshape(B, g, g, P, P, C).permute(0, 1, 3, 2, 4, 5).reshape(B, cfg['image_size'], cfg['image_size'], C)
