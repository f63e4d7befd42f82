"""VQAScore's CLIP-FlanT5-XXL (zhiqiulin/clip-flant5-xxl, loaded with t2v_metrics) -> onnx/vqa.onnx:
pixel_values [B,3,336,336], input_ids and attention_mask [B,T] (the question prompt) -> logits [B,V]
of the first answer token, plus the T5 tokenizer.json. configs/scorers/vqascore.yaml scores
softmax(logits)[yes_token_id]. Needs `pip install t2v_metrics` where it runs; without a GPU-sized
export host, use the VLM-server path instead (configs/scorers/vqascore-server.yaml).
"""

import os

import torch
from torch import nn

from _common import export, parser, record, run_check


class FirstAnswerLogits(nn.Module):
    """One decoder step from the start token: the distribution over the answer's first token."""

    def __init__(self, model, start_token_id=0):
        super().__init__()
        self.model = model
        self.start = start_token_id

    def forward(self, pixel_values, input_ids, attention_mask):
        start = torch.full((input_ids.shape[0], 1), self.start, dtype=torch.long)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start, images=pixel_values)
        return out.logits[:, 0, :]


class StandIn(nn.Module):
    """The call signature of the upstream model at toy width."""

    def __init__(self, vocab=32, dim=6):
        super().__init__()
        torch.manual_seed(3)
        self.img = nn.Linear(3, dim)
        self.embed = nn.Embedding(vocab, dim)
        self.start = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids, attention_mask, decoder_input_ids, images):
        t = (self.embed(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)).sum(1)
        h = t * self.img(images.mean(dim=(2, 3))) + self.start(decoder_input_ids[:, 0])
        class Out:
            pass
        out = Out()
        out.logits = self.head(h).unsqueeze(1)
        return out


def main():
    p = parser(__doc__.split("\n")[0], repo="zhiqiulin/clip-flant5-xxl")
    p.add_argument("--image-size", type=int, default=336)
    p.add_argument("--max-tokens", type=int, default=256)
    args = p.parse_args()
    if args.stand_in:
        model, commit = StandIn().eval(), "stand-in"
    else:
        import t2v_metrics  # pip install t2v_metrics

        model, commit = t2v_metrics.VQAScore(model="clip-flant5-xxl", device="cpu").model.model.eval(), args.revision
    wrapper = FirstAnswerLogits(model)
    S, T = args.image_size, args.max_tokens
    ids = torch.zeros(1, T, dtype=torch.int64)
    names = ["pixel_values", "input_ids", "attention_mask"]
    files = ["onnx/vqa.onnx"]
    export(wrapper, (torch.zeros(1, 3, S, S), ids, torch.ones_like(ids)), os.path.join(args.out, files[0]), names, ["logits"],
           {**{n: {0: "batch"} for n in names}, "logits": {0: "batch"}})
    if not args.stand_in:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained("google/flan-t5-xxl").save_pretrained(args.out)
        files.append("tokenizer.json")
    record(args.out, args.repo, args.revision, commit, files)
    run_check(args, {"logits": (wrapper, names)})


if __name__ == "__main__":
    main()
