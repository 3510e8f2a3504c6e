"""mmpretrain's ViT with facebookresearch/dino's position-embedding resizing
and initialisation, as used by the GTSA and DINO reference code."""
from __future__ import annotations

import copy
from typing import List, Tuple

import torch
from mmengine.model import initialize
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.pos_embed import resize_pos_embed_offset

#: The reference's ``VisionTransformer._init_weights`` as mmengine init_cfg.
REFERENCE_VIT_INIT = [
    dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]


@MODELS.register_module()
class DINOVisionTransformer(VisionTransformer):
    """:class:`mmpretrain.models.VisionTransformer` that resizes its position
    embedding and initialises itself as facebookresearch/dino's
    ``vision_transformer.py`` (which the GTSA reference,
    ``model_pretrain/gtsa.py``, copies).

    Same parameters, buffers and ``state_dict`` keys as its parent, so
    checkpoints move freely between the two (the downstream configs load the
    pretraining weights into the parent). Only two things differ:

    **Position embedding on another grid.** When the input's token grid
    ``(H, W)`` differs from the grid the embedding was built for
    (``img_size / patch_size``, 14 x 14 for 224 px and ViT/16), the patch
    part is resized with the *offset rule* of
    :func:`~gtsa_plugin.models.utils.pos_embed.resize_pos_embed_offset`
    (bicubic, ``scale_factor=((H + 0.1) / 14, (W + 0.1) / 14)``), not
    mmpretrain's ``size=(H, W)``. Who uses which rule:

    * offset rule: facebookresearch/dino and the GTSA reference during
      pretraining (their 96 px local crops, 6 x 6 tokens), hence the
      official GTSA/DINO checkpoints, and the reference's detection
      backbone (``downstream/mmdet/my_models/vit_timm.py``, per input from
      the 14 x 14 grid); this class, used by every pretraining config here
      (``configs/_base_/models/vit-s-p16.py`` and children) and by the
      Mask R-CNN configs (``configs/downstream/mmdet``);
    * size rule: mmpretrain, mmseg and timm; the reference's segmentation
      (mmseg's ViT) and classification (MAE's ``interpolate_pos_embed``)
      code, which resize the checkpoint's embedding once on loading for
      their input size; the Semantic FPN and classification configs here
      (``mmpretrain.VisionTransformer``, same keys) do the same.

    On the pretraining grid (224 px crops) the embedding is used as is, so
    this class computes exactly what its parent does, bit for bit.

    **Initialisation** (when not loading a checkpoint through
    ``init_cfg``): the reference draws every Linear weight from a truncated
    normal (std 0.02) with zero bias, LayerNorm weight 1 and bias 0, and
    ``cls_token`` and ``pos_embed`` truncated-normal (std 0.02); the patch
    projection keeps PyTorch's Conv2d default. ``init_cfg`` defaults to
    :data:`REFERENCE_VIT_INIT`, which expresses the Linear/LayerNorm part.
    mmengine runs a module's ``init_cfg`` *before* its children's own
    ``init_weights``, and mmpretrain's ``TransformerEncoderLayer`` then
    redraws its FFN Linear layers (xavier-uniform, bias N(0, 1e-6)), and the
    parent leaves ``cls_token`` at zero; so :meth:`init_weights` re-applies
    ``init_cfg`` last and draws ``cls_token`` (the parent already draws
    ``pos_embed``). With ``init_cfg=None`` it initialises as its parent.

    Args:
        init_cfg: mmengine init config; ``'reference'`` (default) means
            :data:`REFERENCE_VIT_INIT`.
        **kwargs: As :class:`mmpretrain.models.VisionTransformer`.

    Shapes:
        As the parent: images ``(B, 3, H * p, W * p)`` -> per ``out_indices``
        ``(B, C, H, W)`` (``out_type='featmap'``), ``(B, C)``
        (``'cls_token'``, ``'avg_featmap'``) or ``(B, 1 + H * W, C)``
        (``'raw'``).
    """

    def __init__(self, *args, init_cfg='reference', **kwargs) -> None:
        if init_cfg == 'reference':
            init_cfg = copy.deepcopy(REFERENCE_VIT_INIT)
        super().__init__(*args, init_cfg=init_cfg, **kwargs)

    def _init_cfgs(self) -> List[dict]:
        if not self.init_cfg:
            return []
        return list(self.init_cfg) if isinstance(self.init_cfg, list) \
            else [self.init_cfg]

    def init_weights(self) -> None:
        first_call = not self.is_init
        super().init_weights()
        cfgs = self._init_cfgs()
        if not first_call or not cfgs or any(
                'Pretrained' in str(cfg.get('type')) for cfg in cfgs):
            return
        # The encoder layers re-drew their FFNs after init_cfg ran: give
        # init_cfg the last word, as the reference's self.apply(...).
        initialize(self, cfgs)
        if self.cls_token is not None:
            trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The parent's forward with the offset rule for the position
        embedding (see the class docstring)."""
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed_offset(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            num_extra_tokens=self.num_extra_tokens,
            mode=self.interpolate_mode)
        x = self.drop_after_pos(x)
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)
