"""GTSAHead: the geometry proof and the loss plumbing."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS, TRANSFORMS

STRIDE = 4


def _head(**kwargs):
    cfg = dict(
        type='GTSAHead',
        predictor=dict(type='DenseProjector', in_channels=3, hid_channels=3,
                       out_channels=3, num_blocks=1, residual=False),
        feat_stride=STRIDE,
        roi_out_size=(6, 3),
        cells_threshold=100)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _coordinate_image(height=240, width=256):
    """HWC uint8 whose channels are the pixel's x, y and a constant: any
    crop of it still says where each of its pixels came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs, ys, np.full_like(xs, 128)], -1).astype(np.uint8)


def _patchify(crop: np.ndarray) -> torch.Tensor:
    """Identity "backbone": mean colour of each STRIDE x STRIDE patch."""
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    return F.avg_pool2d(x, STRIDE)


def _aligned_pairs(rotate: bool, seed: int, fake_rotations=None):
    np.random.seed(seed)
    transform = TRANSFORMS.build(
        dict(type='GTSAMultiCrop', crop_sizes=(96, 32), num_crops=(2, 6),
             scales=((0.3, 1.0), (0.1, 0.3)), size_divisor=STRIDE,
             pipelines=[], rotate=rotate))
    results = transform(dict(img=_coordinate_image()))
    crops = results['img']
    maps = [_patchify(c) for c in crops]
    boxes = results['crop_boxes'][None]
    rotations = results['crop_rotations'][None]
    if fake_rotations is not None:
        rotations = fake_rotations[None]
    groups = [[0, 1], list(range(2, len(crops)))]
    student = [torch.cat([maps[v] for v in g]) for g in groups]
    teacher = torch.cat([maps[0], maps[1]])
    head = _head()
    sizes = [c.shape[0] for c in crops]
    return head.align_pairs(student, groups, teacher, boxes, rotations,
                            sizes), results


def _max_error_in_cells(aligned, results):
    """Largest disagreement of the decoded (x, y) over all pairs, in units
    of the coarsest feature cell (original pixels per cell)."""
    boxes = results['crop_boxes']
    cell = (boxes[:, 2:] - boxes[:, :2]).max() / 32 * STRIDE
    worst = 0.0
    for pooled_s, pooled_t, weight, _ in aligned:
        assert weight.all()
        diff = (pooled_s[:, :2] - pooled_t[:, :2]).abs()
        worst = max(worst, float(diff.amax()))
    return worst / float(cell)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_teacher_pooled_and_rotated_equals_student_pooled(seed):
    aligned, results = _aligned_pairs(rotate=True, seed=seed)
    assert len(aligned[0][0]) == 2 and len(aligned[1][0]) == 12  # pairs
    rotations = results['crop_rotations']
    assert (rotations != 0).any()
    # Bilinear sampling of a linear pattern is exact up to uint8 rounding
    # and resize effects (measured: < 0.05 cell); any bookkeeping slip
    # (a wrong turn, frame or scale) costs whole cells.
    assert _max_error_in_cells(aligned, results) < 0.15
    err = torch.cat([(s[:, :2] - t[:, :2]).abs().flatten()
                     for s, t, _, _ in aligned]).mean()
    assert err < 0.5  # original pixels


def test_wrong_rotation_bookkeeping_is_detected():
    """Negative control: pretend no crop was rotated; the maps disagree."""
    aligned, results = _aligned_pairs(rotate=True, seed=3,
                                      fake_rotations=torch.zeros(8).long())
    assert (results['crop_rotations'] != 0).any()
    assert _max_error_in_cells(aligned, results) > 2


def test_no_rotation_still_aligned():
    aligned, results = _aligned_pairs(rotate=False, seed=4)
    assert (results['crop_rotations'] == 0).all()
    assert _max_error_in_cells(aligned, results) < 0.15


def test_crop_loss_is_minus_one_for_identical_maps():
    """With the predictor an identity, the student's pooled map equals the
    teacher's wherever geometry agrees, so the crop loss hits -1."""
    aligned, results = _aligned_pairs(rotate=True, seed=5)
    head = _head()
    boxes = results['crop_boxes'][None]
    rotations = results['crop_rotations'][None]
    maps = [_patchify(c) - 128 for c in results['img']]  # zero-mean-ish
    groups = [[0, 1], list(range(2, 8))]
    student = [torch.cat([maps[v] for v in g]) for g in groups]
    teacher = torch.cat(maps[:2])
    losses = head.loss(student, groups, teacher, boxes, rotations,
                       [c.shape[0] for c in results['img']])
    assert -1.0 <= float(losses['loss_crop']) < -0.95
    assert -1.0 <= float(losses['loss_pc']) < -0.95


def test_loss_averages_over_pairs_and_skips_self_pairs():
    """Hand-built: global maps constant per view; the crop loss of each pair
    is -cos between the two constants, averaged over the 1x1 + 1x2 pairs."""
    head = _head(roi_out_size=(2, 2))
    b = 1
    c = torch.tensor
    v0, v1, v2 = c([1., 0, 0]), c([0., 1, 0]), c([1., 1, 0])
    full = c([[[0., 0., 8., 8.], [0., 0., 8., 8.], [0., 0., 8., 8.]]])
    maps_g = torch.stack([v0, v1])[:, :, None, None].expand(2, 3, 2, 2)
    maps_l = v2[None, :, None, None].expand(1, 3, 2, 2)
    losses = head.loss([maps_g.clone(), maps_l.clone()], [[0, 1], [2]],
                       maps_g.clone(), full.expand(b, 3, 4),
                       torch.zeros(b, 3, dtype=torch.long), [8, 8, 8])
    cos = torch.nn.functional.cosine_similarity
    # pairs: (t0,s1) (t1,s0) (t0,s2) (t1,s2)
    expected = -(cos(v0, v1, 0) * 2 + cos(v0, v2, 0) + cos(v1, v2, 0)) / 4
    assert float(losses['loss_crop']) == pytest.approx(float(expected),
                                                       abs=1e-6)


def test_head_rejects_bad_settings():
    with pytest.raises(ValueError, match='roi_out_size'):
        _head(roi_out_size=(0, 3))
    with pytest.raises(ValueError, match='feat_stride'):
        _head(feat_stride=0)
    with pytest.raises(ValueError, match="reduction='sum'"):
        _head(crop_loss=dict(type='NegativeCosineLoss', reduction='mean'))
