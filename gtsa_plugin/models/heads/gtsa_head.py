"""GTSA's dense head: predictor, crop loss and patch-correspondence loss."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor
from torchvision.ops import roi_align

from ..utils.autocast import autocast_off
from ..utils.crop_geometry import (box_area, box_intersection,
                                   rot90_per_sample, rotate_boxes,
                                   to_crop_frame)


@lru_cache(maxsize=64)
def _pair_index(num_teacher: int, views: Tuple[int, ...], batch: int,
                device: torch.device) -> Dict[str, Tensor]:
    """Index tensors of a group's (teacher t, student view) pairs with
    ``views[s] != t``, built from Python ints (no data-dependent shapes, no
    host sync): ``t``/``s`` (pair -> teacher view, position in the group),
    ``s_view`` (pair -> view index), ``views`` and the RoIAlign batch
    indices ``tea_rows``/``stu_rows`` ``(pairs * B,)`` (pair major, rows of
    the view-major maps)."""
    pairs = [(t, s) for t in range(num_teacher) for s in range(len(views))
             if views[s] != t]
    t_idx = [t for t, _ in pairs]
    s_idx = [s for _, s in pairs]

    def rows(view_rows):
        return torch.tensor([r * batch + b for r in view_rows
                             for b in range(batch)],
                            dtype=torch.long, device=device)

    def long(values):
        return torch.tensor(values, dtype=torch.long, device=device)

    return dict(t=long(t_idx), s=long(s_idx),
                s_view=long([views[s] for s in s_idx]), views=long(views),
                tea_rows=rows(t_idx), stu_rows=rows(s_idx))


@MODELS.register_module()
class GTSAHead(BaseModule):
    """Student predictor plus GTSA's two dense losses.

    For every teacher view ``t`` (the global crops) and every student view
    ``s != t``, the intersection of the two crops is located in both crops'
    resized and rotated frames (from ``crop_boxes`` and ``crop_rotations``),
    pooled with RoIAlign (``aligned=True``, adaptive sampling) from the
    teacher's projector map and from the student's predictor map, and the
    teacher's pooled map is turned by ``(k_s - k_t) x 90`` degrees (exact
    rot90) into the student's orientation:

    - ``loss_crop``: negative cosine over channels, mean over positions and
      batch, then over pairs;
    - ``loss_pc``: :class:`PatchCorrespondenceLoss` on the full maps.

    All pairs of one resolution group go through RoIAlign, rotation and
    matching in single batched calls.

    Args:
        predictor: Config of the student predictor (a dense map-to-map
            module, e.g. :class:`DenseProjector` without residual).
        crop_loss: Config of the crop loss (reduction 'sum').
        pc_loss: Config of the patch-correspondence loss (reduction 'sum').
        feat_stride: Pixels per feature-map cell (the patch size).
        roi_out_size: RoIAlign output side for (large, small) student maps.
        cells_threshold: A student map with more cells than this is large.
    """

    def __init__(self,
                 predictor: dict,
                 crop_loss: dict = dict(type='NegativeCosineLoss',
                                        reduction='sum'),
                 pc_loss: dict = dict(type='PatchCorrespondenceLoss',
                                      num_matches=(98, 18),
                                      reduction='sum'),
                 feat_stride: int = 16,
                 roi_out_size: Sequence[int] = (10, 4),
                 cells_threshold: int = 100,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if feat_stride <= 0:
            raise ValueError(
                f'feat_stride must be positive, got {feat_stride}')
        if len(roi_out_size) != 2 or min(roi_out_size) <= 0:
            raise ValueError(
                f'roi_out_size must be two positive ints, got {roi_out_size}')
        self.predictor = MODELS.build(predictor)
        self.crop_loss = MODELS.build(crop_loss)
        self.pc_loss = MODELS.build(pc_loss)
        for name, loss in (('crop_loss', self.crop_loss),
                           ('pc_loss', self.pc_loss)):
            if getattr(loss, 'reduction', 'sum') != 'sum':
                raise ValueError(f"head.{name} must use reduction='sum' (the "
                                 'head averages over all pairs itself)')
        self.feat_stride = int(feat_stride)
        self.roi_out_size = tuple(int(s) for s in roi_out_size)
        self.cells_threshold = int(cells_threshold)

    def forward(self, x: Tensor) -> Tensor:
        """Predictor: ``(N, C, H, W) -> (N, C', H, W)``."""
        out = self.predictor(x)
        return out[-1] if isinstance(out, (tuple, list)) else out

    def pair_geometry(self, crop_boxes: Tensor, rotations: Tensor,
                      view_sizes: Tensor, views: Tensor, num_teacher: int):
        """Boxes of every (teacher t, student view) intersection.

        Args:
            crop_boxes: ``(B, N, 4)`` original-image crop boxes.
            rotations: ``(B, N)`` quarter turns of each crop.
            view_sizes: ``(N,)`` side of each resized crop, pixels.
            views: ``(V,)`` indices of this group's student views.
            num_teacher: ``T``; teacher views are views ``0..T-1``.

        Returns:
            ``(teacher_boxes, student_boxes, valid)``: boxes ``(B, T, V, 4)``
            in feature-map cells of the teacher's and student's rotated
            frames; ``valid`` ``(B, T, V)`` is False where the crops do not
            intersect or the student view is the teacher view itself.
        """
        b_t = crop_boxes[:, :num_teacher, None]
        b_s = crop_boxes[:, None, views]
        inter = box_intersection(b_t, b_s)
        size_t = view_sizes[:num_teacher, None].to(inter.dtype)
        size_s = view_sizes[None, views].to(inter.dtype)
        k_t = rotations[:, :num_teacher, None]
        k_s = rotations[:, None, views]
        tea = rotate_boxes(to_crop_frame(inter, b_t, size_t), k_t, size_t)
        stu = rotate_boxes(to_crop_frame(inter, b_s, size_s), k_s, size_s)
        teacher_ids = torch.arange(num_teacher, device=views.device)
        not_self = teacher_ids[:, None] != views[None, :]
        valid = (box_area(inter) > 0) & not_self
        return tea / self.feat_stride, stu / self.feat_stride, valid

    def _roi_align(self, maps: Tensor, rows: Tensor, boxes: Tensor,
                   out: int) -> Tensor:
        # torchvision's op, not ours: a maintained library kernel (CPU and
        # CUDA) beats a faster home-made one (see README: Performance).
        return roi_align(
            maps, torch.cat([rows[:, None].to(boxes.dtype), boxes], 1),
            output_size=out, spatial_scale=1.0, sampling_ratio=-1,
            aligned=True)

    def align_pairs(self, student_maps: Sequence[Tensor],
                    group_views: Sequence[Sequence[int]],
                    teacher_maps: Tensor, crop_boxes: Tensor,
                    rotations: Tensor, view_sizes: Sequence[int]):
        """Pool every (teacher view, student view) intersection from both
        maps, the teacher's turned into the student's orientation.

        Args: as :meth:`loss`.

        Returns:
            Per resolution group, ``(student_pooled, teacher_pooled, weight,
            valid)``: pooled maps ``(K, C, o, o)`` with ``K`` = pairs x batch
            (pair major; pairs are the group's (t, s) with ``s != t``),
            ``weight`` ``(K,)`` 1 where the crops intersect, and ``valid``
            ``(B, T, V)`` over all (t, s) combinations of the group.
        """
        device = teacher_maps.device
        batch = crop_boxes.shape[0]
        num_teacher = teacher_maps.shape[0] // batch
        sizes = torch.as_tensor(view_sizes, device=device)
        aligned = []
        for maps, views in zip(student_maps, group_views):
            views = tuple(int(v) for v in views)
            idx = _pair_index(num_teacher, views, batch, device)
            tea_box, stu_box, valid = self.pair_geometry(
                crop_boxes, rotations, sizes, idx['views'], num_teacher)
            t_idx, s_idx = idx['t'], idx['s']
            tea_rows, stu_rows = idx['tea_rows'], idx['stu_rows']
            sel_tea = tea_box[:, t_idx, s_idx].transpose(0, 1).reshape(-1, 4)
            sel_stu = stu_box[:, t_idx, s_idx].transpose(0, 1).reshape(-1, 4)
            weight = valid[:, t_idx, s_idx].transpose(0, 1).reshape(-1)
            turn = (rotations[:, idx['s_view']] -
                    rotations[:, t_idx]).transpose(0, 1).reshape(-1)

            h_s, w_s = maps.shape[-2:]
            out = self.roi_out_size[0] if h_s * w_s > self.cells_threshold \
                else self.roi_out_size[1]
            pooled_t = self._roi_align(teacher_maps.float(), tea_rows,
                                       sel_tea, out)
            pooled_s = self._roi_align(maps.float(), stu_rows, sel_stu, out)
            aligned.append((pooled_s, rot90_per_sample(pooled_t, turn),
                            weight.float(), valid))
        return aligned

    @autocast_off
    def loss(self,
             student_maps: Sequence[Tensor],
             group_views: Sequence[Sequence[int]],
             teacher_maps: Tensor,
             crop_boxes: Tensor,
             rotations: Tensor,
             view_sizes: Sequence[int],
             with_pc: bool = True) -> Dict[str, Tensor]:
        """Crop and patch-correspondence losses, averaged over all pairs.

        Args:
            student_maps: Per resolution group, the predictor output
                ``(V_g * B, C, h_g, w_g)``, views major (view ``j`` of the
                group holds rows ``j*B .. (j+1)*B-1``).
            group_views: Per group, the indices of its views (globals first).
            teacher_maps: ``(T * B, C, h_t, w_t)`` teacher projector output of
                the ``T`` global views, views major; treated as constant.
            crop_boxes: ``(B, N, 4)`` crop boxes in original pixels.
            rotations: ``(B, N)`` long, quarter turns of each crop.
            view_sizes: Side of each view's resized crop, pixels.
            with_pc: Compute the patch-correspondence loss (skipped while its
                weight is zero).

        Returns:
            ``loss_crop`` and ``loss_pc`` (unweighted scalars).
        """
        teacher_maps = teacher_maps.detach()
        batch = crop_boxes.shape[0]
        num_teacher = teacher_maps.shape[0] // batch
        aligned = self.align_pairs(student_maps, group_views, teacher_maps,
                                   crop_boxes, rotations, view_sizes)
        crop_sum = pc_sum = teacher_maps.new_zeros((), dtype=torch.float32)
        pairs = teacher_maps.new_zeros((), dtype=torch.float32)
        for (pooled_s, pooled_t, weight, _), maps in zip(aligned,
                                                         student_maps):
            crop_sum = crop_sum + self.crop_loss(pooled_s, pooled_t, weight)
            pairs = pairs + weight.sum()

        if with_pc:
            # (B, T, Nt, C): every teacher map as a set of cells.
            teacher_cells = teacher_maps.flatten(2).transpose(1, 2).unflatten(
                0, (num_teacher, batch)).transpose(0, 1)
            for (_, _, _, valid), maps in zip(aligned, student_maps):
                student_cells = maps.flatten(2).transpose(1, 2).unflatten(
                    0, (-1, batch)).transpose(0, 1)
                pc_sum = pc_sum + self.pc_loss(
                    student_cells, teacher_cells,
                    valid.transpose(1, 2).float())

        pairs = pairs.clamp(min=1)
        return dict(loss_crop=crop_sum / pairs, loss_pc=pc_sum / pairs)
