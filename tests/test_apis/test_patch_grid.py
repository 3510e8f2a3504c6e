"""The patch size is written once per config (``model.backbone.patch_size``;
GTSA's ``feat_stride`` reads it) and the crops are checked against it before
the model is built, naming the keys (#16: one value feeds patch size,
RoIAlign stride and crop sizes)."""
from __future__ import annotations

import pytest
import repo_helpers as rp
from mmengine.config import Config

from gtsa_plugin.apis.cli import load_config
from gtsa_plugin.apis.run_checks import check_patch_grid

CROPS = 'train_dataloader.dataset.pipeline.1.crop_sizes'


@pytest.mark.parametrize('name', ['gtsa_vit-s_coco.py', 'gtsa_vit-b_ade20k.py',
                                  'dino_vit-s_coco.py',
                                  'gtsa_vit-tiny_demo.py',
                                  'dino_vit-tiny_demo.py'])
def test_shipped_configs_agree(name):
    cfg = Config.fromfile(f'{rp.REPO_ROOT}/configs/{name}')
    patch = cfg.model.backbone.patch_size
    if cfg.model.type == 'GTSA':
        assert cfg.model.head.feat_stride == patch
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert all(size % patch == 0 for size in crop.crop_sizes)
    check_patch_grid(cfg)


@pytest.mark.parametrize('config', [rp.GTSA_DEMO, rp.DINO_DEMO])
def test_crop_size_off_the_patch_grid(config):
    # demo: 8 px patches; 52 px local crops leave half a patch
    cfg = load_config(config, {CROPS: (96, 52)})
    with pytest.raises(ValueError) as info:
        check_patch_grid(cfg)
    message = str(info.value)
    assert f'{CROPS}=(96, 52)' in message
    assert '[52]' in message and 'model.backbone.patch_size=8' in message


def test_patch_size_changed_alone():
    # 16 px patches on the demo's 96/48 px crops: both multiples of 16, but
    # GTSA's stride still says 8
    cfg = load_config(rp.GTSA_DEMO, {'model.backbone.patch_size': 16})
    with pytest.raises(ValueError) as info:
        check_patch_grid(cfg)
    assert 'model.head.feat_stride=8' in str(info.value)
    assert 'model.backbone.patch_size=16' in str(info.value)
    cfg = load_config(rp.GTSA_DEMO, {
        'model.backbone.patch_size': 16, 'model.head.feat_stride': 16})
    check_patch_grid(cfg)


def test_inside_a_dataset_wrapper():
    cfg = load_config(rp.DINO_DEMO, {CROPS: (96, 44)})
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2,
                                        dataset=inner)
    with pytest.raises(ValueError, match=r'dataset\.dataset\.pipeline\.1'):
        check_patch_grid(cfg)


def test_inside_a_concat_dataset():
    # ConcatDataset lists its parts under datasets=[...]
    cfg = load_config(rp.DINO_DEMO, {CROPS: (100, 52)})
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(type='ConcatDataset',
                                        datasets=[inner, inner])
    with pytest.raises(ValueError, match=r'dataset\.datasets\.0\.pipeline'):
        check_patch_grid(cfg)


def test_square_pair_is_the_patch_size():
    # mmpretrain takes (16, 16); the 8 px stride must still be refused
    cfg = load_config(rp.GTSA_DEMO, {'model.backbone.patch_size': (16, 16)})
    with pytest.raises(ValueError, match='model.head.feat_stride=8'):
        check_patch_grid(cfg)


@pytest.mark.parametrize('patch', [16.0, '16', (16, 8), 0])
def test_patch_size_that_is_not_a_positive_integer(patch):
    cfg = load_config(rp.GTSA_DEMO)
    cfg.model.backbone.patch_size = patch
    with pytest.raises(TypeError, match='model.backbone.patch_size'):
        check_patch_grid(cfg)


def test_grid_is_checked_before_any_data_is_touched(tmp_path):
    """A missing folder would be the first error if the data were looked
    at first; the config's own fault comes first and nothing is made."""
    from gtsa_plugin.apis.cli import preflight
    missing = tmp_path / 'not-there'
    cfg = load_config(rp.GTSA_DEMO, {
        CROPS: (96, 52), 'train_dataloader.dataset.data_root': str(missing)})
    with pytest.raises(ValueError, match='crop_sizes'):
        preflight(cfg)
    assert not missing.exists()
