import mmcv
import numpy as np
import pytest
import torch
from mmpretrain.registry import TRANSFORMS


def _build(**kwargs):
    cfg = dict(type='GTSAMultiCrop', crop_sizes=(64, 32), num_crops=(2, 6),
               scales=((0.3, 1.0), (0.1, 0.3)), size_divisor=16,
               pipelines=[])
    cfg.update(kwargs)
    return TRANSFORMS.build(cfg)


def _image(h=180, w=240, seed=0):
    return np.random.default_rng(seed).integers(
        0, 256, (h, w, 3), dtype=np.uint8)


def test_outputs_contract():
    np.random.seed(0)
    out = _build()(dict(img=_image()))
    assert len(out['img']) == 8
    shapes = [c.shape for c in out['img']]
    assert shapes == [(64, 64, 3)] * 2 + [(32, 32, 3)] * 6
    assert all(c.dtype == np.uint8 and c.flags.c_contiguous
               for c in out['img'])
    boxes, rots = out['crop_boxes'], out['crop_rotations']
    assert boxes.dtype == torch.float32 and boxes.shape == (8, 4)
    assert rots.dtype == torch.long and rots.shape == (8, )
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 240).all()
    assert (boxes[:, 3] <= 180).all() and (boxes[:, 2:] > boxes[:, :2]).all()


def test_crop_is_resized_box_then_rotated_ccw():
    np.random.seed(1)
    img = _image()
    out = _build()(dict(img=img))
    for crop, box, k in zip(out['img'], out['crop_boxes'].long().tolist(),
                            out['crop_rotations'].tolist()):
        x1, y1, x2, y2 = box
        size = crop.shape[0]
        expected = mmcv.imresize(img[y1:y2, x1:x2], (size, size),
                                 interpolation='bilinear', backend='pillow')
        assert np.array_equal(crop, np.rot90(expected, k))


def test_overlap_constraint_and_areas():
    np.random.seed(2)
    transform = _build(crop_sizes=(224, 96))
    h, w = 300, 400
    area = h * w
    for _ in range(50):
        boxes = transform.sample_boxes(h, w)
        sides = boxes[:, 2:] - boxes[:, :2]
        for i in range(1, 8):
            for g in range(min(i, 2)):
                lt = np.maximum(boxes[i, :2], boxes[g, :2])
                rb = np.minimum(boxes[i, 2:], boxes[g, 2:])
                inter = np.clip(rb - lt, 0, None).prod()
                need = 0.01 * area * (2 if i < 2 else 1)
                assert inter > need
        ratios = sides[:, 0] / sides[:, 1]
        assert (ratios > 0.7).all() and (ratios < 1.4).all()
        fractions = sides.prod(1) / area
        assert (fractions[:2] >= 0.29).all() and (fractions[2:] <= 0.31).all()


def test_rotations_cover_all_quarter_turns_and_can_be_disabled():
    np.random.seed(3)
    transform = _build()
    seen = torch.cat([transform(dict(img=_image()))['crop_rotations']
                      for _ in range(20)])
    counts = torch.bincount(seen, minlength=4)
    assert (counts > 20).all()  # 160 draws, ~40 each
    fixed = _build(rotate=False)(dict(img=_image()))
    assert (fixed['crop_rotations'] == 0).all()


def test_tiny_and_extreme_images_still_give_all_crops():
    np.random.seed(4)
    transform = _build()
    for shape in [(20, 2000, 3), (2000, 20, 3), (10, 12, 3)]:
        out = transform(dict(img=np.zeros(shape, np.uint8)))
        assert len(out['img']) == 8
        boxes = out['crop_boxes']
        assert (boxes[:, 2] <= shape[1]).all() and (
            boxes[:, 3] <= shape[0]).all()


@pytest.mark.parametrize('kwargs,key', [
    (dict(num_crops=(2, 6, 1)), 'num_crops'),
    (dict(scales=((0.3, 1.0), )), 'scales'),
    (dict(crop_sizes=(64, 40)), 'size_divisor'),
    (dict(num_crops=(2, 0)), 'num_crops'),
    (dict(min_overlap=0.6), 'min_overlap'),
    (dict(min_overlap=0.35), 'scales\\[1\\]'),
    (dict(scales=((0.3, 1.2), (0.1, 0.3))), 'scales'),
])
def test_impossible_settings_fail_at_build_naming_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        _build(**kwargs)
