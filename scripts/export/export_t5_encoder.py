"""FLAN-T5-XL's encoder (google/flan-t5-xl) -> onnx/encoder.onnx: input_ids and attention_mask
[B,128] -> last_hidden_state [B,128,2048], plus tokenizer.json. configs/encoders/flan-t5-xl.yaml
reads them; text_embed nodes store the states of each caption's own tokens in float16.
The XL encoder's weights exceed protobuf's 2 GB: the export writes onnx/encoder.onnx_data beside it.
"""

import os
import shutil

import torch
from torch import nn

from _common import download, export, parser, record, run_check


class Encoder(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class StandIn(nn.Module):
    """T5EncoderModel's call at toy width: embeddings, one linear layer, masked."""

    def __init__(self, vocab=32, dim=8):
        super().__init__()
        torch.manual_seed(4)
        self.embed = nn.Embedding(vocab, dim)
        self.layer = nn.Linear(dim, dim)

    def forward(self, input_ids, attention_mask):
        h = torch.tanh(self.layer(self.embed(input_ids))) * attention_mask.unsqueeze(-1).to(torch.float32)
        class Out:
            pass
        out = Out()
        out.last_hidden_state = h
        return out


def main():
    p = parser(__doc__.split("\n")[0], repo="google/flan-t5-xl")
    p.add_argument("--max-tokens", type=int, default=128)
    args = p.parse_args()
    folder = None
    if args.stand_in:
        encoder, commit = StandIn().eval(), "stand-in"
    else:
        from transformers import T5EncoderModel

        folder, commit = download(args.repo, args.revision, allow=["*.json", "*.safetensors", "spiece.model"])
        encoder = T5EncoderModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    wrapper = Encoder(encoder)
    ids = torch.zeros(1, args.max_tokens, dtype=torch.int64)
    files = ["onnx/encoder.onnx"]
    names = ["input_ids", "attention_mask"]
    export(wrapper, (ids, torch.ones_like(ids)), os.path.join(args.out, files[0]), names, ["last_hidden_state"],
           {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}, "last_hidden_state": {0: "batch"}})
    if folder:
        shutil.copy(os.path.join(folder, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))
        files += ["tokenizer.json", "onnx/encoder.onnx_data"]
    record(args.out, args.repo, args.revision, commit, files)
    run_check(args, {"states": (wrapper, names)})


if __name__ == "__main__":
    main()
