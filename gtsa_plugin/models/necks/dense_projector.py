"""Convolutional projector/predictor applied to dense feature maps."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class DenseProjector(BaseModule):
    """``num_blocks`` x [3x3 conv -> channel LayerNorm (no affine) -> GELU],
    then a 1x1 conv.

    GTSA uses it twice: as the projector (student and teacher;
    ``in 384 -> hid 384 -> out 768``, 2 blocks, residual) and as the
    student's predictor (``768 -> 768 -> 768``, 1 block, no residual).

    Args:
        in_channels: Channels of the input map.
        hid_channels: Channels of every block's output.
        out_channels: Channels of the final 1x1 conv.
        num_blocks: Number of conv blocks.
        residual: Add each block's input to its output where channel counts
            match.
        in_index: Which backbone output to use when given a tuple.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H, W)``; the input may
        also be a tuple of maps (mmpretrain neck convention), and the output
        is then a 1-tuple.
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 num_blocks: int = 2,
                 residual: bool = True,
                 in_index: int = -1,
                 init_cfg: Union[dict, Sequence[dict], None] = dict(
                     type='Normal', layer='Conv2d', std=0.02, bias=0.)
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1:
            raise ValueError(f'num_blocks must be >= 1, got {num_blocks}')
        self.residual = residual
        self.in_index = in_index
        self.blocks = nn.ModuleList()
        for i in range(num_blocks):
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(in_channels if i == 0 else hid_channels,
                              hid_channels, 3, padding=1),
                    # Channel LayerNorm without affine parameters, as GTSA's.
                    LayerNorm2d(hid_channels, elementwise_affine=False),
                    nn.GELU()))
        self.proj = nn.Conv2d(hid_channels, out_channels, 1)

    def forward(self, x: Union[Tensor, Sequence[Tensor]]
                ) -> Union[Tensor, Tuple[Tensor]]:
        as_tuple = isinstance(x, (tuple, list))
        if as_tuple:
            x = x[self.in_index]
        for block in self.blocks:
            out = block(x)
            x = out + x if self.residual and out.shape == x.shape else out
        x = self.proj(x)
        return (x, ) if as_tuple else x
