"""Dense probes on frozen patch features: linear and k-NN segmentation.

Both probes turn a ``(C, h, w)`` feature map into ``(K, h, w)`` class scores,
upsample the scores bilinearly to the label's resolution, take the argmax
and score it with mmseg's own IoU computation
(``IoUMetric.intersect_and_union`` / ``total_area_to_metrics``), so mIoU and
pixel accuracy (``aAcc``) mean exactly what mmseg reports.

* Linear: features standardised with the training patches' mean and std,
  then one ``nn.Linear(C, K)`` trained with cross-entropy (AdamW, cosine
  learning rate, at least 500 steps) on the cached training patches and
  their cell labels.
* k-NN: cosine similarity of each L2-normalised query patch to the memory
  bank of training patches; the ``k`` nearest vote for their cell labels
  with weights ``exp(sim / T)`` (DINO's weighted k-NN, T = 0.07).
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .frozen_features import IGNORE_INDEX, load_label

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def segmentation_metrics(score_fn: ScoreFn, val_feats: torch.Tensor,
                         val_labels: Sequence[str], num_classes: int,
                         reduce_zero_label: bool = True) -> Dict[str, float]:
    """mIoU / aAcc / mAcc (percent, as mmseg) of ``score_fn`` on val maps.

    Args:
        score_fn: ``(n, C)`` float features -> ``(n, K)`` scores.
        val_feats: ``(V, C, h, w)`` maps.
        val_labels: ``V`` label PNG paths (see :func:`load_label`).
    """
    from mmseg.evaluation.metrics import IoUMetric

    results = []
    for fmap, path in zip(val_feats, val_labels):
        c, h, w = fmap.shape
        scores = score_fn(fmap.float().flatten(1).t())  # (h*w, K)
        scores = scores.t().reshape(1, num_classes, h, w)
        label = torch.from_numpy(load_label(path, reduce_zero_label))
        scores = F.interpolate(scores, size=label.shape, mode='bilinear',
                               align_corners=False)
        pred = scores[0].argmax(0)
        results.append(
            IoUMetric.intersect_and_union(pred, label, num_classes,
                                          IGNORE_INDEX))
    totals = [sum(r[i] for r in results) for i in range(4)]
    metrics = IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU'])
    return dict(
        mIoU=float(np.nanmean(metrics['IoU'])) * 100,
        aAcc=float(metrics['aAcc']) * 100,
        mAcc=float(np.nanmean(metrics['Acc'])) * 100,
        IoU=[None if np.isnan(v) else float(v) * 100
             for v in metrics['IoU']])


class LinearProbe:
    """``nn.Linear`` on standardised features (see the module docstring)."""

    def __init__(self, feats: torch.Tensor, labels: torch.Tensor,
                 num_classes: int, epochs: int = 30, batch_size: int = 1024,
                 lr: float = 1e-2, weight_decay: float = 1e-4,
                 seed: int = 0, min_steps: int = 500) -> None:
        x = feats.float()
        self.mean = x.mean(0)
        self.std = x.std(0).clamp_min(1e-6)
        x = (x - self.mean) / self.std
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.linear = torch.nn.Linear(x.shape[1], num_classes)
        opt = torch.optim.AdamW(self.linear.parameters(), lr=lr,
                                weight_decay=weight_decay)
        per_epoch = max(1, -(-len(x) // batch_size))
        # Small sets get more passes: at least ``min_steps`` updates.
        epochs = max(epochs, -(-min_steps // per_epoch))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, epochs * per_epoch)
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                loss = F.cross_entropy(self.linear(x[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.linear.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear((feats - self.mean) / self.std)


class KNNProbe:
    """Weighted k-NN vote over a memory bank (see the module docstring)."""

    def __init__(self, feats: torch.Tensor, labels: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.07,
                 chunk: int = 512) -> None:
        self.bank = F.normalize(feats.float(), dim=1)
        self.labels = labels
        self.num_classes = num_classes
        self.k = min(int(k), len(self.bank))
        self.temperature = temperature
        self.chunk = chunk

    @torch.no_grad()
    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        q = F.normalize(feats.float(), dim=1)
        out = []
        for start in range(0, len(q), self.chunk):
            sim = q[start:start + self.chunk] @ self.bank.t()
            top, idx = sim.topk(self.k, dim=1)
            weight = (top / self.temperature).exp()
            votes = torch.zeros(len(sim), self.num_classes)
            votes.scatter_add_(1, self.labels[idx], weight)
            out.append(votes)
        return torch.cat(out)


def run_dense_probes(features: Dict[str, object], linear: dict = None,
                     knn: dict = None,
                     reduce_zero_label: bool = True) -> Dict[str, dict]:
    """Both probes on the output of
    :func:`~.frozen_features.extract_features`; returns
    ``{'linear': metrics, 'knn': metrics}``."""
    k = int(features['num_classes'])
    train_x, train_y = features['train_feats'], features['train_labels']
    probes = dict(linear=LinearProbe(train_x, train_y, k, **(linear or {})),
                  knn=KNNProbe(train_x, train_y, k, **(knn or {})))
    return {
        name: segmentation_metrics(fn, features['val_feats'],
                                   features['val_labels'], k,
                                   reduce_zero_label)
        for name, fn in probes.items()
    }
