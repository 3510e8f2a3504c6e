"""Turn the single-stride feature maps of a plain ViT into a pyramid.

A ViT-S/16 gives every block's output at stride 16. Mask R-CNN's FPN, RPN
and RoI heads expect strides 4, 8, 16 and 32, so GTSA's detection recipe
(following XCiT and BEiT) resamples the maps taken after four blocks:

* x4 (stride 4):  2x2 transposed conv -> norm -> GELU -> 2x2 transposed conv
* x2 (stride 8):  2x2 transposed conv
* x1 (stride 16): identity
* x0.5 (stride 32): 2x2 max-pool

Channels are kept (the FPN after it maps them to 256). The module is
registered in mmdet's and in mmseg's ``MODELS`` so both toolkits' configs can
name it ``type='ViTMultiScaleAdapter'``.

Why not mmseg's ``Feature2Pyramid``, which builds the same branches: it is
registered in mmseg alone, so Mask R-CNN configs would need mmseg installed
to name it; it takes one ``embed_dim`` for all inputs and fixed rescale
slots, where this module takes per-input channels and any of the five
factors; and fine-tuned detection/segmentation checkpoints already hold this
module's parameter names (``branches.N``), which a switch would break.
"""
from __future__ import annotations

import importlib
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule

__all__ = ['ViTMultiScaleAdapter']

# Scale factors one branch can apply, and how (see _make_branch).
SUPPORTED_SCALES = (4.0, 2.0, 1.0, 0.5, 0.25)


class ViTMultiScaleAdapter(BaseModule):
    """Resample same-stride ViT feature maps to a feature pyramid.

    Input ``i`` goes through its own branch, chosen by ``scale_factors[i]``:

    - ``4``: ConvTranspose(2, stride 2) -> norm -> activation ->
      ConvTranspose(2, stride 2), i.e. 4x upsampling;
    - ``2``: ConvTranspose(2, stride 2);
    - ``1``: identity;
    - ``0.5`` / ``0.25``: max-pool with kernel and stride 2 / 4.

    With a patch-16 ViT the default factors ``(4, 2, 1, 0.5)`` give strides
    4, 8, 16 and 32; with a patch-8 ViT use ``(2, 1, 0.5, 0.25)`` for the
    same strides.

    Args:
        in_channels (int | Sequence[int]): Channels of each input map
            (an int means the same for all). Every output keeps the channels
            of its input.
        scale_factors (Sequence[float]): Resize factor of each input, one of
            ``4, 2, 1, 0.5, 0.25``. Defaults to ``(4.0, 2.0, 1.0, 0.5)``.
        norm_cfg (dict): Norm between the two transposed convs of a 4x
            branch. Defaults to ``dict(type='BN')`` as in the reference
            (``SyncBN`` is better with few images per GPU).
        act_cfg (dict): Activation after that norm. Defaults to
            ``dict(type='GELU')``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None (PyTorch's default init, as the reference).

    Shapes:
        - inputs: ``len(scale_factors)`` tensors ``(B, C_i, H, W)``.
        - outputs: a tuple of tensors ``(B, C_i, H * s_i, W * s_i)``
          (``floor`` for pooling).

    Example:
        >>> neck = ViTMultiScaleAdapter(in_channels=384)
        >>> feats = [torch.rand(2, 384, 14, 14) for _ in range(4)]
        >>> [tuple(o.shape) for o in neck(feats)]
        [(2, 384, 56, 56), (2, 384, 28, 28), (2, 384, 14, 14), (2, 384, 7, 7)]
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        scale_factors = [float(s) for s in scale_factors]
        if isinstance(in_channels, int):
            in_channels = [in_channels] * len(scale_factors)
        in_channels = [int(c) for c in in_channels]
        if len(in_channels) != len(scale_factors):
            raise ValueError(
                f'in_channels ({in_channels}) and scale_factors '
                f'({scale_factors}) must have the same length')
        self.in_channels = in_channels
        self.scale_factors = scale_factors
        self.branches = nn.ModuleList([
            self._make_branch(c, s, norm_cfg, act_cfg)
            for c, s in zip(in_channels, scale_factors)
        ])

    @staticmethod
    def _make_branch(channels: int, scale: float, norm_cfg: dict,
                     act_cfg: dict) -> nn.Module:
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels, 2, stride=2),
                build_norm_layer(norm_cfg, channels)[1],
                build_activation_layer(act_cfg),
                nn.ConvTranspose2d(channels, channels, 2, stride=2))
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, channels, 2, stride=2)
        if scale == 1.0:
            return nn.Identity()
        if scale in (0.5, 0.25):
            k = int(round(1 / scale))
            return nn.MaxPool2d(kernel_size=k, stride=k)
        raise ValueError(f'unsupported scale factor {scale}; expected one '
                         f'of {SUPPORTED_SCALES}')

    @property
    def out_channels(self) -> List[int]:
        """Channels of each output map (equal to the inputs')."""
        return list(self.in_channels)

    def forward(self, inputs: Sequence[torch.Tensor]
                ) -> Tuple[torch.Tensor, ...]:
        """Resample each input map with its branch.

        Args:
            inputs (Sequence[Tensor]): ``len(scale_factors)`` maps, each
                ``(B, C_i, H, W)``.

        Returns:
            tuple[Tensor]: Map ``i`` of shape
            ``(B, C_i, H * s_i, W * s_i)``.
        """
        if len(inputs) != len(self.branches):
            raise ValueError(
                f'{type(self).__name__} expects {len(self.branches)} feature '
                f'maps (one per scale factor {self.scale_factors}), got '
                f'{len(inputs)}; check the backbone out_indices')
        return tuple(branch(x) for branch, x in zip(self.branches, inputs))


def _register_in_toolkits(cls: type) -> type:
    """Register ``cls`` in mmdet's and mmseg's MODELS (those installed)."""
    for name in ('mmdet.registry', 'mmseg.registry'):
        try:
            registry = importlib.import_module(name).MODELS
        except ImportError:  # toolkit not installed: nothing to register in
            continue
        registry.register_module(module=cls)
    return cls


_register_in_toolkits(ViTMultiScaleAdapter)
