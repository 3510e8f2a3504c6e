"""DINO's projection head (Caron et al., ICCV 2021, Sec. 3.1 and App. C)."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor
from torch.nn.utils.parametrizations import weight_norm


@MODELS.register_module()
class DINONeck(BaseModule):
    """MLP -> L2-normalised bottleneck -> weight-normalised prototypes.

    ``in_channels -> hid_channels (GELU) -> ... -> bottleneck_channels``
    (``num_layers`` Linear layers, no BatchNorm), then ``F.normalize`` of the
    bottleneck and a bias-free Linear ``bottleneck_channels -> out_channels``
    whose weight is reparametrised as ``g * v / ||v||`` per output row
    (:func:`torch.nn.utils.parametrizations.weight_norm`, ``dim=0``).

    The magnitude ``g`` (``last_layer.parametrizations.weight.original0``,
    shape ``(out_channels, 1)``) starts at 1; with ``norm_last_layer=True``
    it is frozen (``requires_grad=False``), so every prototype has unit norm
    and the logits are cosines in ``[-1, 1]``, which the paper reports
    stabilises training. The parametrisation (rather than the deprecated
    ``torch.nn.utils.weight_norm`` hook) keeps ``g`` and ``v`` as ordinary
    parameters, so ``deepcopy`` (the EMA teacher), ``state_dict`` and the
    EMA update all see the same two tensors in student and teacher.

    Args:
        in_channels: Width of the backbone's CLS token.
        hid_channels: Width of the hidden MLP layers.
        bottleneck_channels: Width of the L2-normalised bottleneck.
        out_channels: Number of prototypes ``K`` (the output dimension).
        num_layers: Linear layers in the MLP (>= 1; 1 maps straight to the
            bottleneck).
        norm_last_layer: Freeze the prototypes' norm at 1.
        init_cfg: Optional mmengine init config. By default the MLP's Linear
            weights are truncated-normal (std 0.02) with zero biases, and the
            prototype directions keep PyTorch's default Linear init, as in
            the reference.
    """

    def __init__(self,
                 in_channels: int = 384,
                 hid_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 out_channels: int = 65536,
                 num_layers: int = 3,
                 norm_last_layer: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_last_layer = norm_last_layer

        dims = [in_channels] + [hid_channels] * (num_layers - 1) + \
            [bottleneck_channels]
        layers = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < num_layers - 1:  # no activation on the bottleneck
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

        self.last_layer = weight_norm(
            nn.Linear(bottleneck_channels, out_channels, bias=False), dim=0)
        magnitude = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)
        if norm_last_layer:
            magnitude.requires_grad_(False)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        """Project CLS tokens onto the prototypes.

        Args:
            inputs: Backbone outputs; the last is the CLS token ``(N, C)``
                (``VisionTransformer(out_type='cls_token')``).

        Returns:
            ``(logits, )`` with logits ``(N, out_channels)`` (before any
            temperature).
        """
        x = inputs[-1]
        if x.dim() != 2:
            raise ValueError(
                'DINONeck expects CLS tokens (N, C), got shape '
                f'{tuple(x.shape)}; set the backbone\'s '
                "out_type='cls_token'")
        x = self.mlp(x)
        # eps guards the fp16 normalisation of a (rare) all-zero bottleneck.
        x = F.normalize(x, dim=-1, p=2, eps=1e-6)
        return (self.last_layer(x), )
