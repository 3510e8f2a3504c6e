"""DINOMultiCrop with the recipe's per-crop photometric pipelines."""
import copy

import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import TRANSFORMS

DATA_CFG = 'configs/_base_/datasets/unlabeled_dino_multicrop.py'


def _recipe_cfg(repo_root) -> dict:
    cfg = Config.fromfile(f'{repo_root}/{DATA_CFG}')
    (crop, ) = [t for t in cfg.train_pipeline if t['type'] == 'DINOMultiCrop']
    return copy.deepcopy(crop.to_dict())


def _set_probs(cfg: dict, **probs) -> dict:
    """Set ``prob`` of every transform of the given types, recursively."""
    if isinstance(cfg, dict):
        if cfg.get('type') in probs:
            cfg['prob'] = probs[cfg['type']]
        for value in cfg.values():
            _set_probs(value, **probs)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _set_probs(value, **probs)
    return cfg


def _transforms_of(pipeline):
    return {t['type']: t for t in pipeline}


def test_recipe_pipelines_per_view(repo_root):
    """The config is the reference's DataAugmentationDINO."""
    cfg = _recipe_cfg(repo_root)
    assert cfg['crop_sizes'] == (224, 96) and cfg['num_crops'] == (2, 8)
    assert cfg['scales'] == ((0.4, 1.0), (0.05, 0.4))
    assert cfg['interpolation'] == 'bicubic'
    g1, g2 = (_transforms_of(p) for p in cfg['view_pipelines'])
    local = _transforms_of(cfg['pipelines'][1])
    for view in (g1, g2, local):
        assert view['RandomFlip']['prob'] == 0.5
        assert view['RandomApply']['prob'] == 0.8
        jitter = view['RandomApply']['transforms'][0]
        assert (jitter['brightness'], jitter['contrast'],
                jitter['saturation'], jitter['hue']) == (0.4, 0.4, 0.2, 0.1)
        assert view['RandomGrayscale']['prob'] == 0.2
        assert view['GaussianBlur']['magnitude_range'] == (0.1, 2.0)
        assert view['GaussianBlur']['magnitude_std'] == 'inf'
    assert g1['GaussianBlur']['prob'] == 1.0
    assert g2['GaussianBlur']['prob'] == 0.1
    assert local['GaussianBlur']['prob'] == 0.5
    assert g2['Solarize'] == dict(type='Solarize', thr=128, prob=0.2)
    assert 'Solarize' not in g1 and 'Solarize' not in local


def test_crop_count_and_sizes(repo_root):
    np.random.seed(0)
    t = TRANSFORMS.build(_recipe_cfg(repo_root))
    img = np.random.randint(0, 256, (300, 400, 3), dtype=np.uint8)
    out = t(dict(img=img, img_shape=img.shape[:2]))
    assert len(out['img']) == 10
    assert [c.shape for c in out['img']] == [(224, 224, 3)] * 2 + \
        [(96, 96, 3)] * 8
    assert all(c.dtype == np.uint8 for c in out['img'])
    boxes = out['crop_boxes'].numpy()
    assert boxes.shape == (10, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / \
        (300 * 400)
    # Rounding of the sampled sides moves the area fraction slightly.
    assert np.all(areas[:2] >= 0.4 - 0.01) and np.all(areas[:2] <= 1.0)
    assert np.all(areas[2:] >= 0.05 - 0.01) and np.all(areas[2:] <= 0.4 + 0.01)


def test_each_crop_is_flipped_on_its_own(repo_root):
    """Full-image crops of a left-to-right ramp: a flipped crop runs
    right-to-left. With p=0.5 per crop both happen, in every view."""
    cfg = _set_probs(_recipe_cfg(repo_root), RandomApply=0.0,
                     RandomGrayscale=0.0, GaussianBlur=0.0, Solarize=0.0)
    cfg.update(scales=((1.0, 1.0), (1.0, 1.0)), ratio=(1.0, 1.0))
    t = TRANSFORMS.build(cfg)
    ramp = np.tile(np.linspace(0, 255, 120).astype(np.uint8)[None, :, None],
                   (120, 1, 3))
    np.random.seed(0)
    flipped = []
    for _ in range(8):
        crops = t(dict(img=ramp.copy(), img_shape=ramp.shape[:2]))['img']
        for c in crops:
            left, right = c[:, :5].mean(), c[:, -5:].mean()
            assert abs(left - right) > 150  # a ramp, one way or the other
            flipped.append(left > right)
    flipped = np.array(flipped).reshape(8, 10)
    assert flipped.any() and not flipped.all()
    # Independent per crop: in some image, crops disagree.
    assert any(row.any() and not row.all() for row in flipped)
    # And every crop position is flipped sometimes, kept sometimes.
    assert 0 < flipped.mean() < 1

    never = TRANSFORMS.build(_set_probs(copy.deepcopy(cfg), RandomFlip=0.0))
    for c in never(dict(img=ramp.copy(), img_shape=ramp.shape[:2]))['img']:
        assert c[:, :5].mean() < c[:, -5:].mean()


def test_solarize_only_on_the_second_global_crop(repo_root):
    """Everything else off and solarize certain: only crop 1 is inverted."""
    cfg = _set_probs(_recipe_cfg(repo_root), RandomFlip=0.0,
                     RandomApply=0.0, RandomGrayscale=0.0, GaussianBlur=0.0,
                     Solarize=1.0)
    t = TRANSFORMS.build(cfg)
    img = np.full((150, 200, 3), 200, dtype=np.uint8)
    crops = t(dict(img=img, img_shape=img.shape[:2]))['img']
    assert np.all(crops[1] == 255 - 200)
    for i, c in enumerate(crops):
        if i != 1:
            assert np.all(c == 200), i


def test_blur_follows_each_views_probability(repo_root):
    """Blur p=1 on global 1, p=0 forced on the others: only crop 0 gets
    intermediate values across a sharp vertical edge."""
    cfg = _set_probs(_recipe_cfg(repo_root), RandomFlip=0.0,
                     RandomApply=0.0, RandomGrayscale=0.0, Solarize=0.0)
    _set_probs(cfg['view_pipelines'][1], GaussianBlur=0.0)
    _set_probs(cfg['pipelines'][1], GaussianBlur=0.0)
    cfg.update(scales=((1.0, 1.0), (1.0, 1.0)), ratio=(1.0, 1.0),
               interpolation='nearest')
    t = TRANSFORMS.build(cfg)
    img = np.zeros((192, 192, 3), dtype=np.uint8)
    img[:, 96:] = 255
    np.random.seed(1)
    blurred = 0
    for _ in range(5):
        crops = t(dict(img=img, img_shape=img.shape[:2]))['img']
        mid = [np.mean((c > 0) & (c < 255)) for c in crops]
        # PIL leaves a step edge intact for radii below ~0.25 (of the
        # uniform 0.1-2.0), so global 1 is visibly blurred almost always.
        blurred += mid[0] > 0
        assert all(m == 0 for m in mid[1:])
    assert blurred >= 4


def test_view_pipelines_override_and_validation():
    t = TRANSFORMS.build(dict(
        type='DINOMultiCrop', crop_sizes=(32, 16), num_crops=(2, 2),
        scales=((0.5, 1.0), (0.1, 0.5)),
        pipelines=[[], []],
        view_pipelines=[None, [dict(type='Solarize', thr=0, prob=1.0)]]))
    assert t.crop_pipeline(0, 0) is t.pipelines[0]
    assert t.crop_pipeline(1, 0) is t.view_pipelines[1]
    assert t.crop_pipeline(3, 1) is t.pipelines[1]
    img = np.full((40, 40, 3), 10, dtype=np.uint8)
    crops = t(dict(img=img, img_shape=img.shape[:2]))['img']
    assert [int(c.max()) for c in crops] == [10, 245, 10, 10]
    with pytest.raises(ValueError, match='view_pipelines'):
        TRANSFORMS.build(dict(type='DINOMultiCrop', crop_sizes=(32, 16),
                              num_crops=(1, 1), scales=((0.5, 1), (0.1, .5)),
                              view_pipelines=[None, None, None]))
    with pytest.raises(TypeError, match='view_pipelines'):
        TRANSFORMS.build(dict(type='DINOMultiCrop', crop_sizes=(32, 16),
                              num_crops=(1, 1), scales=((0.5, 1), (0.1, .5)),
                              view_pipelines=[dict(type='Solarize')]))
