"""Non-finite gradients or weights are caught before they are stepped into
or saved (issue #12, case 11).

Before: with a finite loss but a NaN gradient on an epoch's last iteration
(one iteration per epoch, ``lr=1e6``), the step wrote NaN into the weights,
``epoch_2.pth`` was saved with 44 of 139 tensors non-finite, and the next
iteration's error called it "the last good checkpoint".
"""
from __future__ import annotations

import glob
import os.path as osp
from types import SimpleNamespace

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch
import torch.nn as nn
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import OPTIM_WRAPPERS

from gtsa_plugin.engine.hooks import (NonFiniteGradientError,
                                      NonFiniteLossHook, NonFiniteStateError)
from gtsa_plugin.utils.checkpoint import safe_load


def _wrapper(fused=True, clip=True):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, fused=fused)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='PerParamClipOptimWrapper', optimizer=optimizer,
        clip_grad=dict(max_norm=3.0) if clip else None))
    return model, wrapper


def _step(model, wrapper, bad=None):
    loss = model(torch.ones(4, 3)).sum()
    wrapper.backward(loss)
    if bad is not None:
        model.weight.grad[0, 0] = bad
    wrapper.step()
    wrapper.zero_grad()


def _snapshot(model, wrapper):
    state = {k: {n: t.clone() for n, t in v.items()}
             for k, v in wrapper.optimizer.state_dict()['state'].items()}
    return [p.detach().clone() for p in model.parameters()], state


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
@pytest.mark.parametrize('fused,clip', [(True, True), (True, False),
                                        (False, True)])
def test_a_non_finite_step_leaves_weights_and_state_untouched(bad, fused,
                                                              clip):
    model, wrapper = _wrapper(fused, clip)
    _step(model, wrapper)  # a good step creates the optimiser state
    assert wrapper.pop_nonfinite_steps() is None
    _step(model, wrapper, bad=bad)
    _step(model, wrapper)  # a good one after it is stepped again
    params_after, state_after = _snapshot(model, wrapper)
    # skipped: one step's worth of change, not two, and all finite
    for p in params_after:
        assert torch.isfinite(p).all()
    assert [int(s['step']) for s in state_after.values()] == [2, 2]
    # 1 skipped, the 1st of 2 steps since the last pop
    assert wrapper.pop_nonfinite_steps() == (1, 1, 2)
    # the skipped step changed nothing: redo it on a fresh copy
    model2, wrapper2 = _wrapper(fused, clip)
    _step(model2, wrapper2)
    _step(model2, wrapper2)
    for p, q in zip(params_after, model2.parameters()):
        assert torch.equal(p, q.detach())


def test_count_and_first_step_are_reported_once():
    model, wrapper = _wrapper()
    _step(model, wrapper)
    _step(model, wrapper, bad=float('nan'))
    _step(model, wrapper, bad=float('nan'))
    assert wrapper.pop_nonfinite_steps() == (2, 2, 3)
    assert wrapper.pop_nonfinite_steps() is None


def _runner(wrapper, last_ckpt='work/epoch_1.pth', it=6, epoch=2):
    hub = MessageHub.get_instance('non-finite-grad-test')
    hub.update_info('last_ckpt', last_ckpt)
    return SimpleNamespace(optim_wrapper=wrapper, iter=it, epoch=epoch,
                           message_hub=hub,
                           logger=MMLogger.get_current_instance())


def test_hook_names_the_iteration_and_the_good_checkpoint():
    model, wrapper = _wrapper()
    _step(model, wrapper)
    _step(model, wrapper, bad=float('nan'))
    hook = NonFiniteLossHook()
    # runner.iter is the 0-based index of the iteration just run (the 2nd
    # step ran as iteration 7 of 7 here)
    with pytest.raises(NonFiniteGradientError) as info:
        hook.after_train_epoch(_runner(wrapper))
    pr.assert_names(str(info.value), ['iteration 7 (epoch 3)',
                                      'work/epoch_1.pth', 'skipped'])


def test_hook_refuses_to_save_non_finite_weights_or_state():
    model, wrapper = _wrapper()
    _step(model, wrapper)
    hook = NonFiniteLossHook()
    runner = _runner(wrapper)
    good = dict(state_dict=model.state_dict(),
                optimizer=wrapper.optimizer.state_dict())
    hook.before_save_checkpoint(runner, good)  # fine
    for key in ('state_dict', 'optimizer'):
        bad = dict(state_dict=dict(model.state_dict()),
                   optimizer=wrapper.optimizer.state_dict())
        if key == 'state_dict':
            bad['state_dict']['teacher.weight'] = torch.full(
                (2, ), float('inf'))
        else:
            state = bad['optimizer']['state'][0]
            state['exp_avg'] = torch.full_like(state['exp_avg'], float('nan'))
        with pytest.raises(NonFiniteStateError) as info:
            hook.before_save_checkpoint(runner, bad)
        pr.assert_names(str(info.value), ['Refusing to save',
                                          'work/epoch_1.pth'])


@pytest.mark.slow
@pytest.mark.parametrize('name', ['gtsa', 'dino'])
def test_lr_1e6_never_poisons_a_checkpoint(name, synthetic_scenes, tmp_path):
    """One iteration per epoch at ``lr=1e6``: whatever stops the run (a
    non-finite gradient, loss or state), every checkpoint written is
    finite, the one the error calls good exists and is finite."""
    config = rp.GTSA_DEMO if name == 'gtsa' else rp.DINO_DEMO
    data = im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path / 'data'), 4)
    work_dir = str(tmp_path / 'work')
    options = pr.tiny_options(data, epochs=4, **pr.FEW_CROPS[name], **{
        'optim_wrapper.optimizer.lr': 1e6,
        'default_hooks.checkpoint.max_keep_ckpts': 2})
    with pytest.raises(FloatingPointError) as info:
        with ip.pretrain_scope():
            ip.train_in_process(config, work_dir, options)
    written = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    assert written, pr.tail(pr.logs(work_dir))
    for path in written:
        ckpt = safe_load(path)
        for key, value in ckpt['state_dict'].items():
            assert torch.isfinite(value.float()).all(), (path, key)
        for i, state in ckpt['optimizer']['state'].items():
            for key, value in state.items():
                assert torch.isfinite(value.float()).all(), (path, i, key)
    named = str(info.value).split('the last good checkpoint is ')[-1]
    assert named.split(' ')[0] in written, (str(info.value), written)
