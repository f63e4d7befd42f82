"""ImageReward v1.0 (THUDM/ImageReward, ImageReward.pt with BLIP ViT-L/16 + BERT and an MLP head)
-> onnx/imagereward.onnx: pixel_values [B,3,224,224], input_ids and attention_mask [B,35] -> reward [B],
the raw head output (configs/scorers/imagereward.yaml normalises it with ImageReward's mean and std),
plus the BERT tokenizer.json. Needs `pip install image-reward` where it runs.
"""

import os

import torch
from torch import nn

from _common import export, parser, record, run_check


class Reward(nn.Module):
    """The upstream score path without its final normalisation: BLIP image features, the caption
    read by the text encoder with cross-attention to them, the [CLS] state through the MLP."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, input_ids, attention_mask):
        blip = self.model.blip
        image_embeds = blip.visual_encoder(pixel_values)
        image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
        text = blip.text_encoder(input_ids, attention_mask=attention_mask, encoder_hidden_states=image_embeds,
                                 encoder_attention_mask=image_atts, return_dict=True)
        return self.model.mlp(text.last_hidden_state[:, 0, :]).squeeze(-1)


class _Text(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)

    def forward(self, input_ids, attention_mask, encoder_hidden_states, encoder_attention_mask, return_dict):
        e = self.embed(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)
        class Out:
            pass
        out = Out()
        out.last_hidden_state = e + encoder_hidden_states.mean(dim=1, keepdim=True)
        return out


class _Visual(nn.Module):
    """Three "patches" (one per colour channel's mean) embedded to the width: [B,3,S,S] -> [B,3,dim]."""

    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(1, dim)

    def forward(self, pixel_values):
        return self.proj(pixel_values.mean(dim=(2, 3)).unsqueeze(-1))


class StandIn(nn.Module):
    """ImageReward's attribute layout at toy width: .blip.visual_encoder, .blip.text_encoder, .mlp."""

    def __init__(self, vocab=32, dim=6):
        super().__init__()
        torch.manual_seed(2)
        self.blip = nn.Module()
        self.blip.visual_encoder = _Visual(dim)
        self.blip.text_encoder = _Text(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 3), nn.Linear(3, 1))


def main():
    p = parser(__doc__.split("\n")[0], repo="THUDM/ImageReward")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--max-tokens", type=int, default=35)
    args = p.parse_args()
    if args.stand_in:
        model, commit = StandIn().eval(), "stand-in"
    else:
        import ImageReward as RM  # pip install image-reward

        model, commit = RM.load("ImageReward-v1.0", device="cpu").eval(), args.revision
    wrapper = Reward(model)
    S, T = args.image_size, args.max_tokens
    ids = torch.zeros(1, T, dtype=torch.int64)
    files = ["onnx/imagereward.onnx"]
    names = ["pixel_values", "input_ids", "attention_mask"]
    export(wrapper, (torch.zeros(1, 3, S, S), ids, torch.ones_like(ids)), os.path.join(args.out, files[0]), names, ["reward"],
           {**{n: {0: "batch"} for n in names}, "reward": {0: "batch"}})
    if not args.stand_in:
        from transformers import BertTokenizerFast

        BertTokenizerFast.from_pretrained("bert-base-uncased").save_pretrained(args.out)
        files.append("tokenizer.json")
    record(args.out, args.repo, args.revision, commit, files)
    run_check(args, {"reward": (wrapper, names)})


if __name__ == "__main__":
    main()
