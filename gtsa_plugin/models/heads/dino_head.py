"""DINO's self-distillation loss with a centred, sharpened teacher."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.autocast import autocast_off
from ..utils.multi_view import current_epoch


@MODELS.register_module()
class DINOHead(BaseModule):
    """Cross-entropy between the teacher's centred, sharpened softmax on the
    global views and the student's softmax on every other view.

    With ``G`` teacher (global) views and ``V`` student views (globals first),
    student logits ``s_v`` and teacher logits ``t_g`` (each ``(B, K)``)::

        P_s(v) = softmax(s_v / student_temp)
        P_t(g) = softmax((t_g - center) / teacher_temp(epoch))
        loss   = mean over pairs (g, v), v != g, of
                 mean_b  sum_k -P_t(g)[b, k] * log P_s(v)[b, k]

    i.e. the sum over the ``G * V - G`` pairs divided by their number, as the
    reference's ``DINOLoss``. The teacher temperature rises linearly from
    ``warmup_teacher_temp`` to ``teacher_temp`` over the first
    ``warmup_teacher_temp_epochs`` epochs (``np.linspace`` with both ends,
    as the reference) and stays at ``teacher_temp`` afterwards; the epoch is
    read from mmengine's :class:`MessageHub` (``'epoch'`` info).

    In training mode each call then moves the ``center`` buffer ``(1, K)``::

        center <- center * center_momentum + (1 - center_momentum) * c_batch

    where ``c_batch`` is the mean teacher logit over all global views of the
    whole global batch (summed with ``all_reduce`` over ranks, divided by the
    global row count; a no-op with one process).

    Args:
        out_channels: Output dimension ``K`` of the projection (neck).
        student_temp: Student temperature.
        teacher_temp: Teacher temperature after the warm-up.
        warmup_teacher_temp: Teacher temperature at epoch 0.
        warmup_teacher_temp_epochs: Length of the linear warm-up in epochs
            (0 for none).
        center_momentum: EMA momentum of the center.
        init_cfg: Unused (no parameters); kept for the mmengine interface.
    """

    def __init__(self,
                 out_channels: int = 65536,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 0,
                 center_momentum: float = 0.9,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        for key, value in (('student_temp', student_temp),
                           ('teacher_temp', teacher_temp),
                           ('warmup_teacher_temp', warmup_teacher_temp)):
            if not value > 0:
                raise ValueError(f'head.{key} must be > 0, got {value}')
        if warmup_teacher_temp_epochs < 0:
            raise ValueError('head.warmup_teacher_temp_epochs must be >= 0, '
                             f'got {warmup_teacher_temp_epochs}')
        if not 0.0 <= center_momentum <= 1.0:
            raise ValueError('head.center_momentum must be in [0, 1], got '
                             f'{center_momentum}')
        self.out_channels = int(out_channels)
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.warmup_teacher_temp = float(warmup_teacher_temp)
        self.warmup_teacher_temp_epochs = int(warmup_teacher_temp_epochs)
        self.center_momentum = float(center_momentum)
        # Persistent: a resumed run continues with the same centre.
        self.register_buffer('center', torch.zeros(1, self.out_channels))

    def teacher_temp_at(self, epoch: int) -> float:
        """Teacher temperature of ``epoch`` (0-based)."""
        if epoch < self.warmup_teacher_temp_epochs:
            return float(
                np.linspace(self.warmup_teacher_temp, self.teacher_temp,
                            self.warmup_teacher_temp_epochs)[epoch])
        return self.teacher_temp

    def current_teacher_temp(self) -> float:
        return self.teacher_temp_at(current_epoch())

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """EMA of the batch-mean teacher logit over all ranks.

        Args:
            teacher_logits: ``(N, K)``, this rank's teacher outputs.
        """
        batch_sum = teacher_logits.float().sum(dim=0, keepdim=True)
        all_reduce(batch_sum, op='sum')  # no-op when not distributed
        batch_center = batch_sum / (teacher_logits.shape[0] * get_world_size())
        self.center.mul_(self.center_momentum).add_(
            batch_center, alpha=1.0 - self.center_momentum)

    @autocast_off
    def loss(self, student_logits: Sequence[Tensor],
             teacher_logits: Sequence[Tensor]) -> Dict[str, Tensor]:
        """The DINO loss of one batch.

        Args:
            student_logits: ``V`` tensors ``(B, K)``, one per view, globals
                first (the same global views, in the same order, as
                ``teacher_logits``).
            teacher_logits: ``G`` tensors ``(B, K)``, one per global view
                (no gradient flows into them).

        Returns:
            ``loss`` (scalar, differentiable w.r.t. the student), and, for
            logging only, ``teacher_temp`` and ``agreement``: the fraction of
            the same (teacher global, student view) pairs and images whose
            student argmax equals the argmax of the teacher's centred target.
        """
        num_teacher, num_views = len(teacher_logits), len(student_logits)
        if not 1 <= num_teacher <= num_views or num_views < 2:
            raise ValueError(
                'DINOHead needs >= 1 teacher (global) view, the student '
                'seeing those and at least one more view; got '
                f'{num_teacher} teacher and {num_views} student views')
        student = torch.stack([s.float() for s in student_logits])  # V,B,K
        teacher = torch.stack([t.detach().float()
                               for t in teacher_logits])  # G,B,K
        if student.shape[1:] != teacher.shape[1:] or \
                student.shape[-1] != self.out_channels:
            raise ValueError(
                f'student {tuple(student.shape)} and teacher '
                f'{tuple(teacher.shape)} logits must be (views, B, '
                f'{self.out_channels})')
        batch = student.shape[1]
        temp = self.current_teacher_temp()

        log_p_student = F.log_softmax(student / self.student_temp, dim=-1)
        p_teacher = F.softmax((teacher - self.center) / temp, dim=-1)
        # ce[g, v] = mean_b sum_k -p_t[g, b, k] * log p_s[v, b, k]: one matmul
        # over the flattened (b, k) axis instead of a loop over pairs.
        ce = -(p_teacher.reshape(num_teacher, -1)
               @ log_p_student.reshape(num_views, -1).t()) / batch  # G,V
        # Pairs v != g, as a 0/1 weight (no boolean indexing: static shapes,
        # no host sync); their count is known on the host.
        pair_mask = torch.ones_like(ce)
        pair_mask[:, :num_teacher].fill_diagonal_(0.)  # v == g
        num_pairs = num_teacher * (num_views - 1)
        loss = (ce * pair_mask).sum() / num_pairs

        with torch.no_grad():
            hits = (p_teacher.argmax(-1)[:, None] ==
                    student.argmax(-1)[None])  # G,V,B
            agreement = (hits.float() * pair_mask[..., None]).sum() / (
                num_pairs * batch)
            if self.training:
                self.update_center(teacher.flatten(0, 1))
        return dict(
            loss=loss,
            teacher_temp=torch.tensor(temp, device=loss.device),
            agreement=agreement)
