"""DINO's out-of-range config values fail when built, naming the key (the
GTSA ones are covered in test_gtsa.py and test_gtsa_multi_crop.py)."""
import copy

import inprocess_helpers as ip
import pytest
import repo_helpers as rp
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS


@pytest.fixture(autouse=True)
def _pretrain_scope():
    with ip.pretrain_scope():
        yield


@pytest.fixture(scope='module')
def demo() -> Config:
    return Config.fromfile(rp.DINO_DEMO)


@pytest.mark.parametrize('path,value,key', [
    ('base_momentum', 1.5, 'model.base_momentum'),
    ('base_momentum', -0.1, 'model.base_momentum'),
    ('end_momentum', 2.0, 'model.end_momentum'),
    ('freeze_last_layer', -1, 'model.freeze_last_layer'),
    ('head.student_temp', 0.0, 'head.student_temp'),
    ('head.teacher_temp', -0.04, 'head.teacher_temp'),
    ('head.warmup_teacher_temp_epochs', -2,
     'head.warmup_teacher_temp_epochs'),
    ('head.center_momentum', 1.5, 'head.center_momentum'),
])
def test_bad_model_values_fail_naming_the_key(demo, path, value, key):
    cfg = copy.deepcopy(demo.model)
    *parents, leaf = path.split('.')
    node = cfg
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(ValueError, match=key.replace('.', r'\.')):
        MODELS.build(cfg)


@pytest.mark.parametrize('kwargs,key', [
    (dict(num_crops=(2, 0)), 'num_crops'),
    (dict(crop_sizes=(0, 48)), 'crop_sizes'),
    (dict(crop_sizes=(96, 44), size_divisor=8), 'size_divisor'),
    (dict(scales=((0.4, 1.0), (0.0, 0.4))), 'scales'),
    (dict(scales=((0.4, 1.5), (0.05, 0.4))), 'scales'),
])
def test_bad_multi_crop_values_fail_naming_the_key(demo, kwargs, key):
    cfg = copy.deepcopy(
        next(t for t in demo.train_pipeline if t.type == 'DINOMultiCrop'))
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=key):
        TRANSFORMS.build(cfg)
