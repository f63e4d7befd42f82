"""The LAION improved aesthetic predictor's MLP (sac+logos+ava1-l14-linearMSE.pth from
christophschuhmann/improved-aesthetic-predictor) -> aesthetic_mlp.safetensors, keys layers.{0,2,4,6,7}.*.
The image tower is openai/clip-vit-large-patch14's, from export_clip.py --vision-only.
"""

import os

import torch
from torch import nn

from _common import parser, record, run_check


class StandIn(nn.Module):
    """The predictor's shape at toy width: Linear, Dropout, Linear, ..., Linear, no activations."""

    def __init__(self, dim=6):
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.Sequential(nn.Linear(dim, 5), nn.Dropout(0.2), nn.Linear(5, 4), nn.Dropout(0.2), nn.Linear(4, 3),
                                    nn.Dropout(0.1), nn.Linear(3, 2), nn.Linear(2, 1))

    def forward(self, x):
        return self.layers(x)


def write_safetensors(state, file):
    """safetensors without the package: a JSON header, then little-endian float32 data."""
    import json
    import struct

    header, blobs, offset = {}, [], 0
    for k, v in state.items():
        data = v.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(file, "wb") as fh:
        fh.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def main():
    p = parser(__doc__.split("\n")[0], repo="christophschuhmann/improved-aesthetic-predictor")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.stand_in:
        model, commit = StandIn().eval(), "stand-in"
        state = model.state_dict()
    else:
        from huggingface_hub import hf_hub_download

        # The predictor's weights live in its GitHub repository; a Hub mirror or a local copy works the same.
        path = args.repo if os.path.exists(args.repo) else hf_hub_download(args.repo, "sac+logos+ava1-l14-linearMSE.pth", revision=args.revision)
        state, commit = torch.load(path, map_location="cpu", weights_only=True), args.revision
        model = None
    write_safetensors({k: v for k, v in state.items() if k.endswith(("weight", "bias"))}, os.path.join(args.out, "aesthetic_mlp.safetensors"))
    record(args.out, args.repo, args.revision, commit, ["aesthetic_mlp.safetensors"])
    if model is not None:
        run_check(args, {"mlp": (model, ["embedding"])})


if __name__ == "__main__":
    main()
