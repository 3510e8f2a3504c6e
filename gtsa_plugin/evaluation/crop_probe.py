"""Linear classification probe on object crops (ImageNet-folder layout).

The crops (``DIR/{train,val}/<class>/*.jpg``, e.g. the ``cls/`` folder of
the synthetic scenes) go through the frozen backbone at ``img_size``; the
last feature map is average-pooled to one vector per crop, and the
:class:`~.dense_probe.LinearProbe` trained on the train crops is scored on
the val crops with mmpretrain's ``Accuracy``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Tuple

import torch

from .dense_probe import LinearProbe
from .frozen_features import (IMG_EXTS, backbone_featmap, input_normalisation,
                              load_images)


def crop_folder(root: str, split: str) -> Tuple[List[str], List[int],
                                                List[str]]:
    """Paths, labels and class names (sorted folder names) of ``split``."""
    split_dir = osp.join(root, split)
    classes = sorted(d for d in os.listdir(split_dir)
                     if osp.isdir(osp.join(split_dir, d)))
    paths, labels = [], []
    for i, name in enumerate(classes):
        for f in sorted(os.listdir(osp.join(split_dir, name))):
            if osp.splitext(f)[1].lower() in IMG_EXTS:
                paths.append(osp.join(split_dir, name, f))
                labels.append(i)
    if not paths:
        raise FileNotFoundError(f'no crops under {split_dir}')
    return paths, labels, classes


@torch.no_grad()
def pooled_features(backbone: torch.nn.Module, cfg, paths: List[str],
                    img_size: Tuple[int, int],
                    batch_size: int = 64) -> torch.Tensor:
    """``(N, C)`` average-pooled last feature maps of the images."""
    mean, std, to_rgb = input_normalisation(cfg)
    out = []
    for start in range(0, len(paths), batch_size):
        x = load_images(paths[start:start + batch_size], img_size, mean,
                        std, to_rgb)
        out.append(backbone_featmap(backbone, x).float().mean((2, 3)))
    return torch.cat(out)


def crop_linear_probe(backbone: torch.nn.Module, cfg, root: str,
                      img_size: Tuple[int, int] = (64, 64), epochs: int = 100,
                      seed: int = 0) -> Dict[str, float]:
    """Top-1 accuracy (percent) of a linear probe on pooled crop features."""
    from mmpretrain.evaluation import Accuracy

    tr_paths, tr_labels, classes = crop_folder(root, 'train')
    va_paths, va_labels, va_classes = crop_folder(root, 'val')
    if va_classes != classes:
        raise ValueError(f'{root}: train classes {classes} != val classes '
                         f'{va_classes}')
    train_x = pooled_features(backbone, cfg, tr_paths, img_size)
    val_x = pooled_features(backbone, cfg, va_paths, img_size)
    probe = LinearProbe(train_x, torch.tensor(tr_labels), len(classes),
                        epochs=epochs, batch_size=256, seed=seed)
    acc = Accuracy.calculate(probe(val_x), torch.tensor(va_labels),
                             topk=(1, ))
    return dict(top1=float(acc[0][0]), num_train=len(tr_paths),
                num_val=len(va_paths), num_classes=len(classes))
