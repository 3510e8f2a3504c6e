"""A run that cannot do what was asked stops before the model is built,
naming the keys (issue #12, cases 5-8 and 10b).

Everything here is ``gtsa_plugin.apis.cli.preflight``, which
``tools/train.py`` calls before it builds the Runner (and with it the
model): no model is built in these tests.
"""
from __future__ import annotations

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
from mmengine.runner import Runner

from gtsa_plugin.apis.cli import load_config, preflight


def _cfg(data_root, config=rp.GTSA_DEMO, **options):
    opts = {'train_dataloader.dataset.data_root': data_root,
            'train_dataloader.dataset.synthetic_if_missing': None,
            'train_dataloader.batch_size': 4}
    opts.update(options)
    return load_config(config, opts)


@pytest.fixture(scope='module')
def ten_images(synthetic_scenes, tmp_path_factory):
    return im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path_factory.mktemp('ten')), 10)


@pytest.fixture(scope='module')
def one_image(synthetic_scenes, tmp_path_factory):
    return im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path_factory.mktemp('one')), 1)


@pytest.mark.parametrize('config', [rp.GTSA_DEMO, rp.DINO_DEMO])
@pytest.mark.parametrize('folder,batch', [('ten', 16), ('one', 4)])
def test_fewer_images_than_a_batch_with_drop_last(
        folder, batch, config, ten_images, one_image):
    """mmengine used to assert 'epoch_length must be a positive integer,
    but got 0' after building the model."""
    data = ten_images if folder == 'ten' else one_image
    cfg = _cfg(data, config, **{'train_dataloader.batch_size': batch})
    with pytest.raises(ValueError) as info:
        preflight(cfg)
    message = str(info.value)
    pr.assert_names(message, [f'train_dataloader.batch_size={batch}',
                              'drop_last', '0 iterations per epoch',
                              f'holds {10 if folder == "ten" else 1} images'])


def test_more_processes_than_images_per_batch(ten_images, monkeypatch):
    cfg = _cfg(ten_images, **{'train_dataloader.batch_size': 4})
    preflight(cfg)  # 10 images, one process: 2 iterations
    cfg = _cfg(ten_images, **{'train_dataloader.batch_size': 4})
    cfg.launcher = 'pytorch'
    monkeypatch.setenv('WORLD_SIZE', '3')
    with pytest.raises(ValueError, match=r'x 3 process\(es\) = 12 images'):
        preflight(cfg)


@pytest.mark.parametrize('config', [rp.GTSA_DEMO, rp.DINO_DEMO])
def test_no_workers_builds_a_dataloader(config, ten_images):
    """torch refuses persistent_workers=True with num_workers=0; every
    config set persistent_workers."""
    cfg = _cfg(ten_images, config, **{'train_dataloader.num_workers': 0,
                                      'train_dataloader.batch_size': 4})
    preflight(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    with ip.pretrain_scope():
        loader = Runner.build_dataloader(cfg.train_dataloader)
    assert len(loader) == 2


def test_patch_correspondence_warmup_longer_than_training(ten_images):
    cfg = _cfg(ten_images, **{'model.pc_warmup_epochs': 100,
                              'train_cfg.max_epochs': 2,
                              'param_scheduler': []})
    with pytest.warns(UserWarning) as record:
        preflight(cfg)
    text = ' '.join(str(w.message) for w in record)
    pr.assert_names(text, ['model.pc_warmup_epochs=100',
                           'train_cfg.max_epochs=2', 'loss_pc'])
    # Switched off on purpose: no warning.
    cfg = _cfg(ten_images, **{'model.pc_warmup_epochs': 100,
                              'train_cfg.max_epochs': 2,
                              'model.loss_weights.pc': 0.0,
                              'param_scheduler': []})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        preflight(cfg)


CROP = 'train_dataloader.dataset.pipeline.1'
WRONG_TYPES = [
    # key, value, the words the error must hold
    (f'{CROP}.num_crops', 10, ['pipeline.1', 'num_crops', '10']),
    (f'{CROP}.crop_sizes', 96, ['pipeline.1', 'crop_sizes', '96']),
    (f'{CROP}.num_crops', '28', ['pipeline.1', 'num_crops', "'28'"]),
    (f'{CROP}.min_overlap', '0.01', ['pipeline.1', 'min_overlap', "'0.01'"]),
    (f'{CROP}.scales', 'abc', ['pipeline.1', 'scales']),
    ('model.loss_weights.crop', 'abc', ['model.loss_weights.crop', "'abc'"]),
    ('model.pc_warmup_epochs', '2', ['model.pc_warmup_epochs', "'2'"]),
    ('train_dataloader.batch_size', '4', ['train_dataloader.batch_size']),
]


@pytest.mark.parametrize('key,value,words', WRONG_TYPES,
                         ids=[f'{k.split(".")[-1]}={v!r}'
                              for k, v, _ in WRONG_TYPES])
def test_wrong_types_name_the_setting(key, value, words, ten_images):
    cfg = _cfg(ten_images, **{key: value})
    with pytest.raises(TypeError) as info:
        preflight(cfg)
    pr.assert_names(str(info.value), words)


def test_dino_crops_are_checked_too(ten_images):
    cfg = _cfg(ten_images, rp.DINO_DEMO, **{f'{CROP}.num_crops': '28'})
    with pytest.raises(TypeError, match='num_crops'):
        preflight(cfg)


def test_shortened_run_warns_about_the_schedule_horizon(ten_images):
    """--cfg-options train_cfg.max_epochs=2 on the 12-epoch demo left the
    lr and weight-decay schedules on their 12-epoch horizon, silently."""
    cfg = _cfg(ten_images, **{'train_cfg.max_epochs': 2,
                              'model.pc_warmup_epochs': 1})
    with pytest.warns(UserWarning, match='schedules end at epoch 12') as rec:
        preflight(cfg)
    text = ' '.join(str(w.message) for w in rec)
    pr.assert_names(text, ['train_cfg.max_epochs=2',
                           'param_scheduler.1 (CosineAnnealingLR) end=12',
                           'param_scheduler.2 (CosineAnnealingWeightDecay)'])
    assert 'param_scheduler.0' not in text  # the warm-up ends in time
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        preflight(_cfg(ten_images))  # the config as written: no warning
