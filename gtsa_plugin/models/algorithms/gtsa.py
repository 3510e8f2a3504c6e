"""GTSA: Geometric Transformation Sensitive Architecture (arXiv 2304.08014)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ...engine.optimizers.per_param_clip import grad_norm_log
from ..utils.compiled_parts import CompiledPartsMixin
from ..utils.ema import FusedCosineEMA
from ..utils.multi_view import (check_loss_weights, check_teacher_args,
                                current_epoch, resolution_groups)


@MODELS.register_module()
class GTSA(CompiledPartsMixin, BaseSelfSupervisor):
    """GTSA self-supervised pretraining.

    Inputs per batch (from :class:`GTSAMultiCrop` + ``PackInputs``):
    ``inputs`` is a list of ``N`` normalised views ``(B, 3, S_v, S_v)``,
    globals first, and each :class:`DataSample` carries ``crop_boxes``
    ``(N, 4)`` (original-image pixels) and ``crop_rotations`` ``(N,)``.

    The student (``backbone`` -> ``neck`` projector -> ``head`` predictor)
    sees all views, one forward per resolution group. The teacher, an EMA of
    backbone + projector (``target_net``, :class:`FusedCosineEMA`:
    mmpretrain's CosineEMA rule without host syncs, momentum
    ``1 - base_momentum`` -> ``1 - end_momentum`` on a cosine over all
    iterations), is updated before its forward in every iteration, sees
    only the global views and stays in eval mode (no drop path), as the
    reference's momentum encoder. A :class:`RotationHead` classifies each
    view's rotation from its mean backbone patch token.

    Losses (each already multiplied by its weight): ``loss_crop``,
    ``loss_pc`` (weight 0 while the epoch is below ``pc_warmup_epochs``) and
    ``loss_rot``; ``acc_rot`` is logged.

    No host-device sync inside the step (index tensors from Python ints,
    EMA on the device); ``cfg.compile`` compiles the student forward per
    resolution group, the teacher forward and the losses (see
    :class:`CompiledPartsMixin`).

    Args:
        backbone: Backbone returning feature maps ``(B, C, H/s, W/s)`` as its
            last output (mmpretrain ``VisionTransformer`` with
            ``out_type='featmap'``).
        neck: Dense projector config.
        head: :class:`GTSAHead` config (its ``feat_stride`` is the backbone
            stride).
        rot_head: :class:`RotationHead` config.
        base_momentum: ``1 -`` the teacher's starting EMA momentum (0.004
            for 0.996).
        end_momentum: ``1 -`` the final momentum (0 for 1.0).
        loss_weights: Weights of ``crop``, ``pc`` and ``rot``.
        pc_warmup_epochs: ``loss_pc`` has weight 0 while ``epoch <`` this.
    """

    LOSS_KEYS = ('crop', 'pc', 'rot')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 rot_head: dict,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.0,
                 loss_weights: dict = dict(crop=1.0, pc=0.5, rot=0.5),
                 pc_warmup_epochs: int = 11,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # Validate before building anything, naming the config key.
        loss_weights = check_loss_weights(
            dict(loss_weights), self.LOSS_KEYS, 'model.loss_weights')
        base_momentum, end_momentum, pc_warmup_epochs = check_teacher_args(
            base_momentum, end_momentum, 'pc_warmup_epochs', pc_warmup_epochs)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_weights = loss_weights
        self.rot_head = MODELS.build(rot_head)
        self.pc_warmup_epochs = pc_warmup_epochs
        self.target_net = FusedCosineEMA(
            nn.Sequential(self.backbone, self.neck),
            momentum=base_momentum,
            end_momentum=end_momentum)
        self.target_net.eval()

    def train(self, mode: bool = True) -> 'GTSA':
        super().train(mode)
        self.target_net.eval()  # the teacher never uses drop path
        return self

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """Backbone features of a batch of images, ``(B, C, H/s, W/s)``."""
        return self.backbone(inputs)

    def pc_weight(self) -> float:
        """Weight of ``loss_pc`` at the current epoch."""
        if current_epoch() < self.pc_warmup_epochs:
            return 0.0
        return self.loss_weights['pc']

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('GTSA expects a list of views (globals first); '
                             'check the pipeline uses GTSAMultiCrop')
        crop_boxes = torch.stack([ds.crop_boxes for ds in data_samples]).to(
            inputs[0].device, torch.float32)
        rotations = torch.stack([ds.crop_rotations for ds in data_samples
                                 ]).to(inputs[0].device, torch.long)
        stride = self.head.feat_stride
        view_sizes = []
        for i, view in enumerate(inputs):
            h, w = view.shape[-2:]
            if h != w or h % stride:
                raise ValueError(
                    f'view {i} is {h}x{w}; GTSA needs square crops whose side '
                    f'is a multiple of head.feat_stride={stride}')
            view_sizes.append(h)
        groups = resolution_groups(inputs)

        # Student: one backbone pass per resolution group.
        student_maps, pooled_tokens = [], []
        for views in groups:
            pooled, maps = self.part('student_group')(
                torch.cat([inputs[v] for v in views]))
            pooled_tokens.append(pooled)
            student_maps.append(maps)

        # Teacher: EMA update first, then the global views only.
        self.target_net.update_parameters(
            nn.Sequential(self.backbone, self.neck))
        with torch.no_grad():
            teacher_maps = self.part('teacher_forward')(
                torch.cat([inputs[v] for v in groups[0]]))

        pc_weight = self.pc_weight()
        losses = self.part('loss_terms')(
            student_maps, pooled_tokens, teacher_maps, crop_boxes, rotations,
            tuple(tuple(g) for g in groups), tuple(view_sizes),
            pc_weight > 0)
        losses['loss_pc'] = pc_weight * losses['loss_pc']
        return losses

    def student_group(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """Student on one resolution group: mean backbone patch token
        ``(N, C)`` and predictor map ``(N, C', h, w)``."""
        feats = self.backbone(images)[-1]
        return feats.mean(dim=(2, 3)), self.head(self.neck((feats, ))[-1])

    def teacher_forward(self, images: Tensor) -> Tensor:
        """Teacher projector map of the global views."""
        return self.target_net(images)[-1]

    def loss_terms(self, student_maps: List[Tensor],
                   pooled_tokens: List[Tensor], teacher_maps: Tensor,
                   crop_boxes: Tensor, rotations: Tensor,
                   groups: Tuple[Tuple[int, ...], ...],
                   view_sizes: Tuple[int, ...],
                   with_pc: bool) -> Dict[str, Tensor]:
        """Dense and rotation losses (``loss_pc`` unweighted)."""
        dense = self.head.loss(
            student_maps, groups, teacher_maps, crop_boxes, rotations,
            view_sizes, with_pc=with_pc)
        # Rotation: every view's mean patch token, views major.
        rot_targets = rotations.t().reshape(-1)
        rot = self.rot_head.loss(torch.cat(pooled_tokens), rot_targets)
        return dict(
            loss_crop=self.loss_weights['crop'] * dense['loss_crop'],
            loss_pc=dense['loss_pc'],
            loss_rot=self.loss_weights['rot'] * rot['loss'],
            acc_rot=rot['acc'])

    def eager_train_step(self, data: Union[dict, tuple, list],
                         optim_wrapper) -> Dict[str, Tensor]:
        """mmengine's ``BaseModel.train_step``, plus the clipped gradient
        norm (a device tensor) among the logged values."""
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        parsed_losses, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed_losses)
        log_vars.update(grad_norm_log(optim_wrapper))
        return log_vars
