"""Frozen backbone features of an ADE-style segmentation folder, cached.

A *probe* judges a pretrained backbone by what a cheap model can read off
its frozen features. This module does the expensive part once: it builds the
backbone of a pretraining config, loads the teacher (or student) weights of a
GTSA/DINO checkpoint (or keeps the random init), runs every image of an
ADE-style folder through it and stores

* ``train_feats`` ``(N, C)`` float16 and ``train_labels`` ``(N,)`` int64:
  one row per training patch (cell of the last feature map), labelled with
  the majority label inside its cell (:func:`cell_labels`); cells whose
  majority is ``ignore`` are dropped; at most ``max_train_patches`` rows,
  sampled evenly over the images;
* ``val_feats`` ``(V, C, h, w)`` float16 and ``val_labels``: the full maps
  and the label file paths, scored later at label resolution.

Folder layout (ADE20K's, and :mod:`gtsa_plugin.datasets.synthetic`'s)::

    DIR/images/{training,validation}/*.jpg
    DIR/annotations/{training,validation}/*.png   # same stems

Labels follow ADE20K with ``reduce_zero_label``: ``0`` is ignored, ``l > 0``
is class ``l - 1``; set ``reduce_zero_label=False`` for 0-based labels with
``255`` = ignore. Images are resized (bilinear, aspect not kept) to one
``img_size`` so that every map has the same ``(h, w)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IGNORE_INDEX = 255
IMG_EXTS = ('.jpg', '.jpeg', '.png')


def ade_pairs(data_dir: str, split: str) -> List[Tuple[str, str]]:
    """``(image, label)`` paths of ``split`` (``training``/``validation``)."""
    img_dir = osp.join(data_dir, 'images', split)
    ann_dir = osp.join(data_dir, 'annotations', split)
    if not osp.isdir(img_dir) or not osp.isdir(ann_dir):
        raise FileNotFoundError(
            f'{data_dir} is not an ADE-style folder: expected {img_dir} and '
            f'{ann_dir}')
    pairs = []
    for name in sorted(os.listdir(img_dir)):
        stem, ext = osp.splitext(name)
        if ext.lower() not in IMG_EXTS:
            continue
        label = osp.join(ann_dir, stem + '.png')
        if not osp.isfile(label):
            raise FileNotFoundError(f'{label} (label of {name}) is missing')
        pairs.append((osp.join(img_dir, name), label))
    if not pairs:
        raise FileNotFoundError(f'no images in {img_dir}')
    return pairs


def load_label(path: str, reduce_zero_label: bool = True) -> np.ndarray:
    """A label PNG as ``(H, W)`` int64 class indices, ``255`` = ignore."""
    label = np.asarray(Image.open(path), dtype=np.int64)
    if reduce_zero_label:
        label = np.where(label == 0, IGNORE_INDEX, label - 1)
        label[label == IGNORE_INDEX - 1] = IGNORE_INDEX  # ADE's 255 -> 254
    return label


def cell_labels(label: np.ndarray, grid_hw: Tuple[int, int], num_classes: int,
                samples: int = 4) -> np.ndarray:
    """Majority label of each cell of a ``grid_hw`` grid over ``label``.

    The label map is resampled (nearest) to ``samples x samples`` points per
    cell; a cell takes the most frequent label among its points, ignore
    included (ties go to the lower class index, ignore last). Returns
    ``(h, w)`` int64.
    """
    h, w = grid_hw
    lab = torch.from_numpy(label)[None, None].float()
    lab = F.interpolate(lab, size=(h * samples, w * samples),
                        mode='nearest')[0, 0].long()
    lab = lab.clamp(max=num_classes)  # ignore -> index num_classes
    onehot = F.one_hot(lab, num_classes + 1).view(h, samples, w, samples, -1)
    counts = onehot.sum((1, 3))  # (h, w, K + 1)
    major = counts.argmax(-1)
    return torch.where(major == num_classes, IGNORE_INDEX, major).numpy()


def input_normalisation(cfg) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    """``(mean, std, to_rgb)`` of the config's data preprocessor (ImageNet's
    when it has none); mean/std as ``(1, 3, 1, 1)``."""
    pre = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    mean = torch.tensor(pre.get('mean', [123.675, 116.28, 103.53]),
                        dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(pre.get('std', [58.395, 57.12, 57.375]),
                       dtype=torch.float32).view(1, -1, 1, 1)
    return mean, std, bool(pre.get('to_rgb', pre.get('bgr_to_rgb', True)))


def build_frozen_backbone(cfg, checkpoint: Optional[str],
                          source: str = 'teacher',
                          seed: int = 0) -> torch.nn.Module:
    """The config's backbone in eval mode, weights from ``checkpoint``.

    A backbone with an ``out_type`` argument (mmpretrain's ViTs) is built
    with ``out_type='featmap'`` whatever the config says (DINO configs use
    ``cls_token``). With ``checkpoint=None`` the random init of
    ``init_weights()`` under ``torch.manual_seed(seed)`` is kept: the floor
    every pretraining must beat. Checkpoints are read as
    ``tools/model_converters/extract_backbone.py`` reads them and loaded
    strictly.
    """
    import inspect

    from mmengine.runner.checkpoint import _load_checkpoint
    from mmpretrain.registry import MODELS

    from gtsa_plugin.models.utils.pretrained_init import \
        extract_backbone_state_dict

    bcfg = dict(cfg.model.backbone)
    bcfg.pop('init_cfg', None)
    cls = MODELS.get(bcfg['type'])
    if cls is None:
        raise KeyError(f'model.backbone.type={bcfg["type"]!r} is not '
                       'registered in mmpretrain')
    # Subclasses may forward **kwargs (DINOVisionTransformer): look at the
    # whole class hierarchy, not only the leaf's signature.
    if any('out_type' in inspect.signature(k.__init__).parameters
           for k in cls.__mro__ if '__init__' in vars(k)):
        bcfg['out_type'] = 'featmap'
    torch.manual_seed(seed)
    backbone = MODELS.build(bcfg)
    if checkpoint is None:
        if hasattr(backbone, 'init_weights'):
            backbone.init_weights()
    else:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
        state_dict, _ = extract_backbone_state_dict(ckpt, source, checkpoint)
        backbone.load_state_dict(state_dict, strict=True)
    backbone.eval()  # some backbones' train() does not return self
    return backbone.requires_grad_(False)


@torch.no_grad()
def backbone_featmap(backbone: torch.nn.Module,
                     images: torch.Tensor) -> torch.Tensor:
    """The last ``(B, C, h, w)`` map a backbone returns for ``images``."""
    out = backbone(images)
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if isinstance(out, (tuple, list)):  # e.g. (featmap, cls_token)
        out = out[0]
    if out.dim() != 4:
        raise ValueError(f'backbone gave a {tuple(out.shape)} tensor, not a '
                         '(B, C, h, w) feature map')
    return out


def load_images(paths: Sequence[str], img_size: Tuple[int, int],
                mean: torch.Tensor, std: torch.Tensor,
                to_rgb: bool) -> torch.Tensor:
    """Images resized to ``img_size`` ``(w, h)``, normalised, ``(B, 3, h, w)``
    (RGB, or BGR when the model's preprocessor does not swap channels)."""
    arrays = []
    for p in paths:
        img = Image.open(p).convert('RGB').resize(img_size, Image.BILINEAR)
        arrays.append(np.asarray(img))
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    if not to_rgb:  # the model expects BGR
        x = x.flip(1)
    return (x - mean) / std


def default_img_size(first_image: str, multiple: int = 32,
                     longest: int = 512) -> Tuple[int, int]:
    """The first image's ``(w, h)`` scaled to at most ``longest`` px and
    rounded to a multiple of ``multiple`` (every backbone stride divides)."""
    w, h = Image.open(first_image).size
    scale = min(1., longest / max(w, h))
    return tuple(max(multiple, int(round(s * scale / multiple)) * multiple)
                 for s in (w, h))


def cache_key(config: str, checkpoint: Optional[str], source: str,
              data_dir: str, options: dict) -> str:
    """A digest of everything the features depend on (file contents of the
    config, size and mtime of the checkpoint and of every data file)."""
    h = hashlib.sha1()
    with open(config, 'rb') as f:
        h.update(f.read())
    if checkpoint is not None:
        st = os.stat(checkpoint)
        h.update(f'{osp.abspath(checkpoint)}|{st.st_size}|{st.st_mtime_ns}'
                 f'|{source}'.encode())
    else:
        h.update(b'random-init')
    for split in ('training', 'validation'):
        for img, lab in ade_pairs(data_dir, split):
            for p in (img, lab):
                st = os.stat(p)
                h.update(f'{p}|{st.st_size}|{st.st_mtime_ns}'.encode())
    h.update(json.dumps(options, sort_keys=True).encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, cfg, data_dir: str,
                     num_classes: int, img_size: Tuple[int, int],
                     batch_size: int = 16, max_train_patches: int = 500_000,
                     reduce_zero_label: bool = True, seed: int = 0,
                     progress: bool = True) -> Dict[str, object]:
    """Run the backbone over both splits; see the module docstring."""
    mean, std, to_rgb = input_normalisation(cfg)
    out: Dict[str, object] = dict(img_size=list(img_size),
                                  num_classes=num_classes)
    gen = torch.Generator().manual_seed(seed)
    for split in ('training', 'validation'):
        pairs = ade_pairs(data_dir, split)
        per_image = None
        feats, labels, maps = [], [], []
        batches = range(0, len(pairs), batch_size)
        if progress:
            from tqdm import tqdm
            batches = tqdm(batches, desc=f'features {split}', unit='batch')
        for start in batches:
            chunk = pairs[start:start + batch_size]
            x = load_images([p for p, _ in chunk], img_size, mean, std,
                            to_rgb)
            fmap = backbone_featmap(backbone, x).float()
            if split == 'validation':
                maps.append(fmap.half())
                continue
            b, c, h, w = fmap.shape
            if per_image is None:
                per_image = max(1, max_train_patches // len(pairs))
            for i, (_, lab_path) in enumerate(chunk):
                lab = cell_labels(load_label(lab_path, reduce_zero_label),
                                  (h, w), num_classes)
                lab = torch.from_numpy(lab).flatten()
                f = fmap[i].flatten(1).t()
                keep = (lab != IGNORE_INDEX).nonzero().flatten()
                if keep.numel() > per_image:
                    keep = keep[torch.randperm(keep.numel(),
                                               generator=gen)[:per_image]]
                feats.append(f[keep].half())
                labels.append(lab[keep])
        if split == 'training':
            out['train_feats'] = torch.cat(feats)
            out['train_labels'] = torch.cat(labels)
        else:
            out['val_feats'] = torch.cat(maps)
            out['val_labels'] = [lab for _, lab in pairs]
    return out


def cached_features(cache_dir: Optional[str], key: str,
                    compute) -> Dict[str, object]:
    """``compute()``'s result, stored as ``cache_dir/<key>.pt`` (atomic
    write) and read back on the next call with the same key."""
    if cache_dir is None:
        return compute()
    path = osp.join(cache_dir, f'features_{key}.pt')
    if osp.isfile(path):
        from gtsa_plugin.utils.checkpoint import safe_load
        return safe_load(path, map_location='cpu')
    result = compute()
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    torch.save(result, tmp)
    os.replace(tmp, path)
    return result
