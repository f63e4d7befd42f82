"""Shared by the exporters: arguments, upstream download, ONNX export, and export.json.

Each exporter loads an upstream model with PyTorch (pickled checkpoints are read here, once, never
by the pipeline), wraps it in a module whose inputs and outputs are the contract the project's
configs name, and writes ONNX (opset 17) plus the tokenizer. `--stand-in` swaps the upstream model
for a tiny module with the same interface, so the wrapping and export run anywhere PyTorch does;
the test suite uses it with Debian's python3-torch.
"""

import argparse
import hashlib
import json
import os
import sys

import torch


def parser(description, repo, revision="main"):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", required=True, help="folder to write (the config's model_dir)")
    p.add_argument("--repo", default=repo, help=f"upstream Hugging Face repository (default {repo})")
    p.add_argument("--revision", default=revision, help="branch, tag or commit to export (pin a commit for production)")
    p.add_argument("--stand-in", action="store_true", help="export a tiny stand-in with the upstream interface (tests)")
    p.add_argument("--check", help="JSON inputs to run through the exported module; outputs go to <out>/check.json")
    return p


def download(repo, revision, allow=None):
    """The upstream snapshot folder and the commit it resolved to."""
    from huggingface_hub import HfApi, snapshot_download

    commit = HfApi().model_info(repo, revision=revision).sha
    return snapshot_download(repo, revision=commit, allow_patterns=allow), commit


def export(module, args, file, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(file), exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            file,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            do_constant_folding=True,
        )
    print(f"wrote {file}", file=sys.stderr)


def sha256(file):
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record(out, repo, requested, commit, files):
    """export.json: where the weights came from and the sha256 of every file written (pin these in the config)."""
    entry = {
        "repo": repo,
        "revision": requested,
        "commit": commit,
        "torch": torch.__version__,
        "files": {f: sha256(os.path.join(out, f)) for f in files if os.path.exists(os.path.join(out, f))},
    }
    with open(os.path.join(out, "export.json"), "w") as fh:
        json.dump(entry, fh, indent=1)
    print(json.dumps(entry, indent=1))


def run_check(args, modules):
    """Runs each named module on the inputs in --check and writes their outputs to <out>/check.json."""
    if not args.check:
        return
    with open(args.check) as fh:
        spec = json.load(fh)
    results = {}
    with torch.no_grad():
        for name, (module, inputs) in modules.items():
            feeds = [tensor(spec[k]) for k in inputs]
            out = module(*feeds)
            outs = out if isinstance(out, tuple) else (out,)
            results[name] = [o.float().flatten().tolist() for o in outs]
    with open(os.path.join(args.out, "check.json"), "w") as fh:
        json.dump(results, fh)


def tensor(v):
    data = torch.tensor(v["data"], dtype=torch.int64 if v.get("dtype") == "int64" else torch.float32)
    return data.reshape(v["shape"])
