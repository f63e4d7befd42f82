"""CLIP-style reward towers -> onnx/vision_model.onnx (pixel_values -> image_embeds) and
onnx/text_model.onnx (input_ids[, attention_mask] -> text_embeds), plus tokenizer.json.

  --family hf        transformers CLIPModel: PickScore (yuvalkirstain/PickScore_v1), SciScore
                     (Jialuo21/SciScore), the aesthetic score's CLIP ViT-L/14 (openai/clip-vit-large-patch14)
  --family open_clip HPSv2.1: open_clip ViT-H-14 with HPS_v2.1_compressed.pt from xswu/HPSv2
  --family jina      JINA CLIP v2 (jinaai/jina-clip-v2, trust_remote_code)

The configs in configs/scorers/ read these files (score = scale x cosine of the two embeddings).
"""

import os
import shutil

import torch
from torch import nn

from _common import download, export, parser, record, run_check


class Vision(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values)


class Text(nn.Module):
    def __init__(self, model, with_mask):
        super().__init__()
        self.model = model
        self.with_mask = with_mask

    def forward(self, input_ids, attention_mask=None):
        if self.with_mask:
            return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        return self.model.get_text_features(input_ids=input_ids)


class OpenClipAdapter(nn.Module):
    """open_clip's encode_image / encode_text under the transformers names (no attention mask)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def get_image_features(self, pixel_values):
        return self.model.encode_image(pixel_values)

    def get_text_features(self, input_ids):
        return self.model.encode_text(input_ids)


class StandIn(nn.Module):
    """A tiny CLIP: mean-pooled pixels and a masked bag of words, each through a linear map."""

    def __init__(self, vocab=32, dim=6):
        super().__init__()
        torch.manual_seed(0)
        self.visual = nn.Linear(3, dim)
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim, bias=False)

    def get_image_features(self, pixel_values):
        return self.visual(pixel_values.mean(dim=(2, 3)))

    def get_text_features(self, input_ids, attention_mask=None):
        e = self.embed(input_ids)
        if attention_mask is not None:
            e = e * attention_mask.unsqueeze(-1).to(e.dtype)
        return self.proj(e.sum(dim=1))


def load(args):
    if args.stand_in:
        return StandIn(), None, "stand-in"
    if args.family == "hf":
        from transformers import CLIPModel

        folder, commit = download(args.repo, args.revision)
        return CLIPModel.from_pretrained(folder).eval(), folder, commit
    if args.family == "jina":
        from transformers import AutoModel

        folder, commit = download(args.repo, args.revision)
        return AutoModel.from_pretrained(folder, trust_remote_code=True).eval(), folder, commit
    import open_clip
    from huggingface_hub import hf_hub_download

    model, _, _ = open_clip.create_model_and_transforms("ViT-H-14", pretrained=None)
    ckpt = hf_hub_download(args.repo, "HPS_v2.1_compressed.pt", revision=args.revision)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model.load_state_dict(state.get("state_dict", state))
    return OpenClipAdapter(model.eval()), None, args.revision


def main():
    p = parser(__doc__.split("\n")[0], repo="yuvalkirstain/PickScore_v1")
    p.add_argument("--family", choices=["hf", "open_clip", "jina"], default="hf")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--max-tokens", type=int, default=77)
    p.add_argument("--tokenizer-from", help="repository whose tokenizer.json to copy (default: --repo)")
    p.add_argument("--vision-only", action="store_true", help="only the image tower (the aesthetic score)")
    args = p.parse_args()
    model, folder, commit = load(args)
    with_mask = args.family != "open_clip"
    vision, text = Vision(model), Text(model, with_mask)
    S, T = args.image_size, args.max_tokens
    files = ["onnx/vision_model.onnx"]
    export(vision, (torch.zeros(1, 3, S, S),), os.path.join(args.out, files[0]), ["pixel_values"], ["image_embeds"],
           {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}})
    if not args.vision_only:
        ids = torch.zeros(1, T, dtype=torch.int64)
        names = ["input_ids", "attention_mask"] if with_mask else ["input_ids"]
        feeds = (ids, torch.ones_like(ids)) if with_mask else (ids,)
        files.append("onnx/text_model.onnx")
        export(text, feeds, os.path.join(args.out, files[1]), names, ["text_embeds"],
               {**{n: {0: "batch"} for n in names}, "text_embeds": {0: "batch"}})
        if folder or args.tokenizer_from:
            from huggingface_hub import hf_hub_download

            src = os.path.join(folder, "tokenizer.json") if folder and not args.tokenizer_from else \
                hf_hub_download(args.tokenizer_from or args.repo, "tokenizer.json")
            shutil.copy(src, os.path.join(args.out, "tokenizer.json"))
            files.append("tokenizer.json")
    record(args.out, args.repo, args.revision, commit, files)
    run_check(args, {"vision": (vision, ["pixel_values"]),
                     **({} if args.vision_only else {"text": (text, ["input_ids", "attention_mask"] if with_mask else ["input_ids"])})})


if __name__ == "__main__":
    main()
