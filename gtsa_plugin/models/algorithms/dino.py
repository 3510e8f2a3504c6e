"""DINO: self-distillation with no labels (Caron et al., ICCV 2021).

The baseline GTSA is compared against, trained by the same plugin (data,
schedule, optimiser wrapper, checkpoint layout) so that the comparison can be
rerun. Follows the reference recipe (``main_dino.py``): multi-crop student,
EMA teacher on the global views updated AFTER each optimiser step, centred
and sharpened teacher targets, last layer frozen during the first epoch.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.dist import is_distributed
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ...engine.optimizers.per_param_clip import grad_norm_log
from ..utils.compiled_parts import CompiledPartsMixin
from ..utils.ema import FusedCosineEMA
from ..utils.multi_view import (check_teacher_args, current_epoch,
                                resolution_groups)


@MODELS.register_module()
class DINO(CompiledPartsMixin, BaseSelfSupervisor):
    """DINO self-supervised pretraining.

    Inputs per batch (from :class:`DINOMultiCrop` + ``PackInputs``):
    ``inputs`` is a list of ``V`` normalised views ``(B, 3, S_v, S_v)``; the
    leading views sharing the first view's size are the globals (``G``, 2 in
    the recipe), the rest locals.

    - Student: ``backbone`` (CLS token, one pass per resolution group) ->
      ``neck`` (:class:`DINONeck`) on all ``V`` views -> ``V x (B, K)``.
    - Teacher: ``target_net``, :class:`FusedCosineEMA` (mmpretrain's
      CosineEMA rule without host syncs) of
      ``nn.Sequential(backbone, neck)``, on the ``G`` global views only,
      without gradient and always in eval mode (no drop path).
    - ``head`` (:class:`DINOHead`): the loss, its centre and temperatures.

    The teacher is updated in :meth:`train_step` right after the optimiser
    step, so that it averages the student's NEW weights (the reference
    order; GTSA instead updates before its teacher forward)::

        teacher <- (1 - m_t) * teacher + m_t * student_after_step

    where ``m_t = end_momentum - (end_momentum - base_momentum) *
    (cos(pi * t / max_iters) + 1) / 2`` is CosineEMA's rule, i.e. teacher
    momentum ``1 - m_t`` from ``1 - base_momentum`` (0.996) to
    ``1 - end_momentum`` (1.0).

    Step 0: mmengine's averaged models COPY the source on their first
    ``update_parameters`` (``steps == 0``). Left alone, the first real
    update would make the teacher equal to the once-updated student instead
    of averaging it. The teacher is therefore synchronised with the student
    (that copy, ``steps`` 0 -> 1) when built and again at the end of
    :meth:`init_weights` (the student is re-initialised there, the teacher,
    a separate copy, is not), so every update in training is a true EMA.
    Consequently the update after iteration ``i`` (0-based) uses ``t = i +
    1``; after the last iteration ``t = max_iters`` and the momentum is
    exactly ``1 - end_momentum``. The reference evaluates its schedule at
    ``t = i``: a shift of one iteration. ``steps`` is saved in checkpoints,
    so a resumed run continues the schedule.

    The prototypes (``neck.last_layer``) get no update while the epoch
    (MessageHub ``'epoch'``) is below ``freeze_last_layer``: their gradients
    are set to ``None`` between backward and the optimiser step, so the
    optimiser skips them entirely (no weight decay, no Adam moments).

    Because the update order lives in :meth:`train_step`, distributed runs
    need ``model_wrapper_cfg=dict(type='DINODistributedDataParallel')``
    (set by the DINO configs); the plain ``MMDistributedDataParallel`` would
    bypass it, which :meth:`loss` detects and refuses.

    Args:
        backbone: Backbone whose last output is the CLS token ``(B, C)``
            (mmpretrain ``VisionTransformer`` with ``out_type='cls_token'``).
        neck: :class:`DINONeck` config.
        head: :class:`DINOHead` config.
        base_momentum: ``1 -`` the teacher's starting momentum (0.004 for
            0.996).
        end_momentum: ``1 -`` the final momentum (0 for 1.0).
        freeze_last_layer: Epochs during which the last layer is frozen.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.0,
                 freeze_last_layer: int = 1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        base_momentum, end_momentum, freeze_last_layer = check_teacher_args(
            base_momentum, end_momentum, 'freeze_last_layer',
            freeze_last_layer)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.neck, 'last_layer'):
            raise TypeError('DINO needs a neck with a `last_layer` (the '
                            f'prototypes), got {type(self.neck).__name__}')
        self.freeze_last_layer = freeze_last_layer
        self.target_net = FusedCosineEMA(
            self._student(), momentum=base_momentum, end_momentum=end_momentum)
        self.target_net.eval()
        self.sync_teacher()
        self._in_train_step = False

    # ------------------------------------------------------------------
    # teacher
    # ------------------------------------------------------------------
    def _student(self) -> nn.Sequential:
        # Built on the fly (not stored) so the student's modules are not
        # registered twice in the state dict.
        return nn.Sequential(self.backbone, self.neck)

    @torch.no_grad()
    def sync_teacher(self) -> None:
        """Teacher := student and ``steps := 1``, so that the next
        :meth:`update_teacher` is an EMA and not CosineEMA's first-call
        copy."""
        self.target_net.steps.zero_()
        self.target_net.update_parameters(self._student())

    @torch.no_grad()
    def update_teacher(self) -> None:
        """One EMA step of the teacher towards the current student."""
        self.target_net.update_parameters(self._student())

    def init_weights(self) -> None:
        super().init_weights()
        # The student was (re-)initialised by its init_cfg, the teacher copy
        # was not: start both from the same weights, as the reference.
        self.sync_teacher()

    def train(self, mode: bool = True) -> 'DINO':
        super().train(mode)
        self.target_net.eval()  # the teacher never uses drop path
        return self

    # ------------------------------------------------------------------
    # last layer
    # ------------------------------------------------------------------
    def last_layer_frozen(self) -> bool:
        return current_epoch() < self.freeze_last_layer

    def cancel_last_layer_grads(self) -> None:
        # None (not zero): AdamW then skips the tensor entirely, so neither
        # weight decay nor stale Adam moments move it.
        for param in self.neck.last_layer.parameters():
            param.grad = None

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def eager_train_step(self,
                         data: Union[dict, tuple, list],
                         optim_wrapper: OptimWrapper,
                         forward_module: Optional[nn.Module] = None
                         ) -> Dict[str, Tensor]:
        """Forward, backward, (last-layer freeze), optimiser step, then the
        teacher's EMA update.

        Args:
            data: A batch from the dataloader.
            optim_wrapper: The (possibly AMP, possibly accumulating) wrapper.
            forward_module: The module to run the forward through: ``self``
                by default, the DDP wrapper under
                :class:`DINODistributedDataParallel` (gradient sync).

        Returns:
            The parsed losses and logged scalars.
        """
        module = self if forward_module is None else forward_module
        self._in_train_step = True
        try:
            with optim_wrapper.optim_context(module):
                data = self.data_preprocessor(data, True)
                losses = module._run_forward(data, mode='loss')
        finally:
            self._in_train_step = False
        parsed_loss, log_vars = self.parse_losses(losses)
        # update_params() inlined: the last-layer gradients must be dropped
        # between backward and step, and the teacher updated after the step.
        optim_wrapper.backward(optim_wrapper.scale_loss(parsed_loss))
        if optim_wrapper.should_update():
            if self.last_layer_frozen():
                self.cancel_last_layer_grads()
            optim_wrapper.step()
            optim_wrapper.zero_grad()
            self.update_teacher()
        log_vars.update(grad_norm_log(optim_wrapper))
        return log_vars

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """Backbone features of a batch of images (the CLS token)."""
        return self.backbone(inputs)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """The DINO loss of a batch of multi-crop views.

        Args:
            inputs: ``V`` tensors ``(B, 3, S_v, S_v)``, globals first.
            data_samples: Unused (no labels, no geometry).

        Returns:
            ``loss`` and the logged scalars ``teacher_temp`` and
            ``agreement`` (see :meth:`DINOHead.loss`).
        """
        if self.training and torch.is_grad_enabled() and \
                not self._in_train_step and is_distributed():
            raise RuntimeError(
                'DINO must be trained through DINO.train_step (teacher update '
                'after the optimiser step, last-layer freezing); under '
                "distributed training set model_wrapper_cfg=dict(type="
                "'DINODistributedDataParallel')")
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('DINO expects a list of >= 2 views (globals '
                             'first); check the pipeline uses DINOMultiCrop')
        groups = resolution_groups(inputs)
        num_views, global_views = len(inputs), groups[0]

        # Student: one backbone pass per resolution (views major), one neck
        # pass over all CLS tokens.
        cls_tokens = [
            self.part('student_group')(torch.cat([inputs[v] for v in views]))
            for views in groups
        ]
        with torch.no_grad():
            teacher = self.part('teacher_forward')(
                torch.cat([inputs[v] for v in global_views]))
        return self.part('loss_terms')(cls_tokens, teacher, num_views,
                                       len(global_views))

    def student_group(self, images: Tensor) -> Tensor:
        """Student backbone on one resolution group: CLS tokens."""
        return self.backbone(images)[-1]

    def teacher_forward(self, images: Tensor) -> Tensor:
        """Teacher logits of the global views."""
        return self.target_net(images)[-1]

    def loss_terms(self, cls_tokens: List[Tensor], teacher: Tensor,
                   num_views: int, num_global: int) -> Dict[str, Tensor]:
        """Student neck over all CLS tokens, then the head's loss."""
        student = self.neck((torch.cat(cls_tokens), ))[-1]
        return self.head.loss(student.chunk(num_views),
                              teacher.chunk(num_global))


@MODEL_WRAPPERS.register_module()
class DINODistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that trains through
    :meth:`DINO.train_step` (forward through DDP for gradient sync, then the
    module's own step order: last-layer freeze, optimiser step, teacher
    EMA). Set ``model_wrapper_cfg=dict(type='DINODistributedDataParallel')``.
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        return self.module.train_step(data, optim_wrapper,
                                      forward_module=self)
