"""SDXL's VAE (stabilityai/sdxl-vae, diffusers AutoencoderKL) -> onnx/vae_encoder.onnx: sample
[B,3,256,256] in [-1,1] -> latent_mean, latent_std [B,4,32,32] (the posterior's mean and std),
and onnx/vae_decoder.onnx: latent [B,4,32,32] -> sample [B,3,256,256] in [-1,1]. The latents are
the VAE's own scale; the MIRO normalisation is applied by the pipeline (configs/encoders/sdxl-vae.yaml).
Run it in float32: SDXL's VAE overflows in float16 (madebyollin/sdxl-vae-fp16-fix is the fp16 variant).
"""

import os

import torch
from torch import nn

from _common import download, export, parser, record, run_check


class Encode(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        dist = self.vae.encode(sample).latent_dist
        return dist.mean, dist.std


class Decode(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent):
        return self.vae.decode(latent).sample


class _Dist:
    def __init__(self, moments):
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))


class _Out:
    pass


class StandIn(nn.Module):
    """AutoencoderKL's encode/decode interface at factor 8 and toy width."""

    def __init__(self, channels=4):
        super().__init__()
        torch.manual_seed(5)
        self.down = nn.Conv2d(3, 2 * channels, kernel_size=8, stride=8)
        self.up = nn.ConvTranspose2d(channels, 3, kernel_size=8, stride=8)

    def encode(self, sample):
        out = _Out()
        out.latent_dist = _Dist(self.down(sample))
        return out

    def decode(self, latent):
        out = _Out()
        out.sample = torch.tanh(self.up(latent))
        return out


def main():
    p = parser(__doc__.split("\n")[0], repo="stabilityai/sdxl-vae")
    p.add_argument("--resolution", type=int, default=256)
    args = p.parse_args()
    if args.stand_in:
        vae, commit = StandIn().eval(), "stand-in"
    else:
        from diffusers import AutoencoderKL

        folder, commit = download(args.repo, args.revision, allow=["*.json", "*.safetensors"])
        vae = AutoencoderKL.from_pretrained(folder, torch_dtype=torch.float32).eval()
    R, h = args.resolution, args.resolution // 8
    enc, dec = Encode(vae), Decode(vae)
    files = ["onnx/vae_encoder.onnx", "onnx/vae_decoder.onnx"]
    export(enc, (torch.zeros(1, 3, R, R),), os.path.join(args.out, files[0]), ["sample"], ["latent_mean", "latent_std"],
           {"sample": {0: "batch"}, "latent_mean": {0: "batch"}, "latent_std": {0: "batch"}})
    export(dec, (torch.zeros(1, 4, h, h),), os.path.join(args.out, files[1]), ["latent"], ["sample"],
           {"latent": {0: "batch"}, "sample": {0: "batch"}})
    record(args.out, args.repo, args.revision, commit, files)
    run_check(args, {"encode": (enc, ["sample"]), "decode": (dec, ["latent"])})


if __name__ == "__main__":
    main()
