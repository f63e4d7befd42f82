"""The reference preprocessing of each reward model, run with PIL and torchvision: the S x S uint8
RGB pixels each reference feeds its model, written as raw bytes, one file per (photo, reference).

  open_clip   torchvision Resize(S, BICUBIC), CenterCrop(S), then convert('RGB') (open_clip's
              image_transform for evaluation)
  blip        ImageReward's transform: the same steps
  hf_clip     transformers' CLIPImageProcessor steps: convert('RGB'), the shortest edge to S with PIL
              BICUBIC, crop at (n - S) // 2 (transformers is not in Debian; its code does exactly this)
  hpsv2_eval  open_clip's ResizeMaxSize(S, fill=0): the longest side to S, padded to a square

Usage: reference_preprocess.py OUT_DIR SIZE PHOTO...
"""
import os, sys
from PIL import Image
import numpy as np
import torchvision.transforms as T
import torchvision.transforms.functional as F

out_dir, S, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
BICUBIC = T.InterpolationMode.BICUBIC


def open_clip(img):
    img = T.CenterCrop(S)(T.Resize(S, interpolation=BICUBIC)(img))
    return img.convert('RGB')


def hf_clip(img):
    img = img.convert('RGB')
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = S, int(S * long / short)
    size = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize(size, Image.BICUBIC)
    w, h = img.size
    top, left = (h - S) // 2, (w - S) // 2
    return img.crop((left, top, left + S, top + S))


def hpsv2_eval(img):
    w, h = img.size
    scale = S / float(max(h, w))
    new_size = tuple(round(dim * scale) for dim in (h, w))
    img = F.resize(img, new_size, BICUBIC)
    pad_h, pad_w = S - new_size[0], S - new_size[1]
    img = F.pad(img, padding=[pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
    return img.convert('RGB')


for photo in photos:
    for name, fn in [('open_clip', open_clip), ('blip', open_clip), ('hf_clip', hf_clip), ('hpsv2_eval', hpsv2_eval)]:
        px = np.asarray(fn(Image.open(photo)), dtype=np.uint8)
        assert px.shape == (S, S, 3), (photo, name, px.shape)
        with open(os.path.join(out_dir, '%s.%s.%d.rgb' % (os.path.basename(photo), name, S)), 'wb') as f:
            f.write(px.tobytes())
