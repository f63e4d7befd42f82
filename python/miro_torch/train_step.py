"""One training step of the MIRO trainer in PyTorch, the arithmetic of src/model/flow.ts and
src/train/optim.ts: x_t = (1 - t) x + t n, loss = mean (v - (n - x))^2; AdamW with decoupled
weight decay on matrices only, global-norm clipping of the pre-clip gradient, linear warm-up
then cosine decay, and an EMA of the weights. State is kept by TypeScript parameter name."""
import math
import re

import torch

_NO_DECAY = re.compile(r'pos|latents|missing|embed')


def learning_rate(o, step):
    if step < o['warmup_steps']:
        return o['lr'] * (step + 1) / o['warmup_steps']
    progress = min(1, (step - o['warmup_steps']) / max(1, o['total_steps'] - o['warmup_steps']))
    return o['min_lr'] + 0.5 * (o['lr'] - o['min_lr']) * (1 + math.cos(math.pi * progress))


def flow_loss(model, x, n, t, text, text_mask, rewards, reward_mask):
    tb = t.reshape(-1, *([1] * (x.dim() - 1)))
    xt = (1 - tb) * x + tb * n
    return (model(xt, t, text, text_mask, rewards, reward_mask) - (n - x)).pow(2).mean()


class AdamW:
    """optim.ts's AdamW over {name: parameter}; `apply` after the gradients are in .grad."""

    def __init__(self, named, o):
        self.named, self.o = named, o
        self.m = {k: torch.zeros_like(p) for k, p in named.items()}
        self.v = {k: torch.zeros_like(p) for k, p in named.items()}
        self.ema = {k: p.detach().clone() for k, p in named.items()}

    @torch.no_grad()
    def apply(self, step):
        o = self.o
        lr = learning_rate(o, step)
        # One device-to-host read for the norm (not one per tensor): it decides the clip scale.
        grad_norm = math.sqrt(float(torch.stack([p.grad.double().pow(2).sum() for p in self.named.values()]).sum()))
        scale = o['clip_norm'] / grad_norm if o['clip_norm'] > 0 and grad_norm > o['clip_norm'] else 1.0
        bc1, bc2 = 1 - o['beta1'] ** (step + 1), 1 - o['beta2'] ** (step + 1)
        for k, p in self.named.items():
            g = p.grad * scale
            m, v = self.m[k], self.v[k]
            m.mul_(o['beta1']).add_(g * (1 - o['beta1']))
            v.mul_(o['beta2']).add_(g.square() * (1 - o['beta2']))
            update = (m / bc1) / ((v / bc2).sqrt() + o['eps'])
            if o['weight_decay'] > 0 and p.dim() == 2 and not _NO_DECAY.search(k):
                update = update + p * o['weight_decay']
            p.sub_(update * lr)
            self.ema[k].mul_(o['ema_decay']).add_(p * (1 - o['ema_decay']))
        return grad_norm, lr
