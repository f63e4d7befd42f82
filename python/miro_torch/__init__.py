"""The MIRO network and its training step in PyTorch: the same parameters (names and shapes) and
the same arithmetic as src/model/network.ts, src/model/flow.ts and src/train/optim.ts, so a
checkpoint written by either engine loads in the other (safetensors, F32)."""
