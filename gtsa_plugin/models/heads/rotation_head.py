"""Predicts which of the four rotations a crop went through."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class RotationHead(BaseModule):
    """MLP on a crop's mean patch token, classifying ``k`` of its
    ``k x 90`` degree rotation.

    Layers: Linear(in, hid) -> LN -> GELU -> Linear(hid, hid) -> LN -> GELU
    -> Linear(hid, bottleneck) -> LN -> Linear(bottleneck, num_classes).

    Args:
        in_channels: Backbone channels (384 for ViT-S).
        hid_channels: Hidden width (768).
        bottleneck_channels: Width before the classifier (128).
        num_classes: Number of rotations (4).
        loss: Classification loss config.

    Shapes:
        ``forward``: ``(N, in_channels)`` -> logits ``(N, num_classes)``.
        ``loss``: features ``(N, in_channels)`` and targets ``(N,)`` long in
        ``[0, num_classes)``.
    """

    def __init__(self,
                 in_channels: int = 384,
                 hid_channels: int = 768,
                 bottleneck_channels: int = 128,
                 num_classes: int = 4,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02,
                               bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hid_channels), nn.LayerNorm(hid_channels),
            nn.GELU(), nn.Linear(hid_channels, hid_channels),
            nn.LayerNorm(hid_channels), nn.GELU(),
            nn.Linear(hid_channels, bottleneck_channels),
            nn.LayerNorm(bottleneck_channels),
            nn.Linear(bottleneck_channels, num_classes))
        self.loss_module = MODELS.build(loss)

    def forward(self, feats: Tensor) -> Tensor:
        return self.mlp(feats)

    def loss(self, feats: Tensor, targets: Tensor) -> Dict[str, Tensor]:
        """Returns ``loss`` (mean over crops) and ``acc`` (fraction right)."""
        logits = self(feats)
        loss = self.loss_module(logits.float(), targets)
        with torch.no_grad():
            acc = (logits.argmax(1) == targets).float().mean()
        return dict(loss=loss, acc=acc)
