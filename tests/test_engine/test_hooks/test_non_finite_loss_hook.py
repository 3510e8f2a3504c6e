"""A non-finite loss stops training with a message naming the iteration and
the loss term, and the last good checkpoint stays intact and loadable."""
from __future__ import annotations

import glob
import os.path as osp

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch
from mmengine.config import Config

from gtsa_plugin.engine.hooks import NonFiniteLossError, NonFiniteLossHook
from gtsa_plugin.utils.checkpoint import safe_load


@pytest.fixture(autouse=True)
def _pretrain_scope():
    with ip.pretrain_scope():
        yield


def test_is_an_mmengine_hook_registered_in_mmpretrain():
    # An mmengine Hook (#16: pretraining needs no mmdet), no longer mmdet's
    # CheckInvalidLossHook, whose code it never used.
    from mmengine.hooks import Hook
    from mmpretrain.registry import HOOKS
    hook = HOOKS.build(dict(type='NonFiniteLossHook'))
    assert isinstance(hook, NonFiniteLossHook)
    assert type(hook).__mro__[1] is Hook
    assert hook.interval == 1
    with pytest.raises(ValueError, match='interval'):
        NonFiniteLossHook(interval=0)


@pytest.mark.parametrize('name', [
    'gtsa_vit-tiny_demo.py', 'dino_vit-tiny_demo.py', 'gtsa_vit-s_coco.py',
    'gtsa_vit-s_ade20k.py', 'dino_vit-s_coco.py', 'dino_vit-s_ade20k.py'
])
def test_pretraining_configs_use_it(name):
    path = osp.join(rp.REPO_ROOT, 'configs', name)
    if not osp.isfile(path):
        pytest.skip(f'{name} not in this checkout')
    hooks = [h['type'] for h in Config.fromfile(path).custom_hooks]
    assert 'NonFiniteLossHook' in hooks and 'EpochSeedHook' in hooks


@pytest.mark.slow
def test_gtsa_stops_at_the_first_non_finite_term(synthetic_scenes, tmp_path):
    """GTSA demo, 1 iteration per epoch, ``loss_pc`` switched on in epoch 2
    with a weight of 1e39: finite as a Python float (so the config is
    accepted), infinite once it multiplies the float32 loss. Epoch 1 trains
    and is checkpointed; iteration 2 gives ``loss_pc=-inf``."""
    data = im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path / 'data'), 4)
    work_dir = str(tmp_path / 'work')
    options = pr.tiny_options(data, epochs=3, **pr.FEW_CROPS['gtsa'], **{
        'model.pc_warmup_epochs': 1, 'model.loss_weights.pc': 1e39})
    with pytest.raises(NonFiniteLossError) as info:
        ip.train_in_process(rp.GTSA_DEMO, work_dir, options)
    message = str(info.value)
    assert 'iteration 2 (epoch 2' in message
    assert 'loss_pc=-inf' in message
    assert 'loss_crop' in message  # the finite terms are listed too
    good = osp.join(work_dir, 'epoch_1.pth')
    assert good in message  # where to resume from
    assert 'Non-finite loss at iteration 2' in pr.logs(work_dir)

    # Nothing after the bad step was written; the good one is intact.
    assert sorted(glob.glob(osp.join(work_dir, '*.pth'))) == [good]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == 'epoch_1.pth'  # relative: self-contained
    ckpt = safe_load(good)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 1
    for key, value in ckpt['state_dict'].items():
        assert torch.isfinite(value.float()).all(), key
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(rp.GTSA_DEMO)
    model = MODELS.build(cfg.model)
    model.load_state_dict(ckpt['state_dict'], strict=True)
