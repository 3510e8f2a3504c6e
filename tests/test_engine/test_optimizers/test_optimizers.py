import logging

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS


def test_per_param_clip_scales_each_tensor_on_its_own():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    wrapper = OPTIM_WRAPPERS.build(
        dict(type='PerParamClipOptimWrapper', optimizer=opt,
             clip_grad=dict(max_norm=1.0)))
    grads = [torch.full_like(p, v) for p, v in
             zip(model.parameters(), [5.0, 0.01, 3.0, 0.2])]
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    before = [g.norm() for g in grads]
    wrapper._clip_grad()
    for p, g, n in zip(model.parameters(), grads, before):
        if n > 1.0:  # clipped to norm max_norm, direction kept
            assert torch.allclose(p.grad.norm(), torch.tensor(1.0), atol=1e-5)
            assert torch.allclose(p.grad / p.grad.norm(), g / n, atol=1e-6)
        else:  # untouched, unlike global-norm clipping would do
            assert torch.equal(p.grad, g)


def test_frozen_module_constructor_skips_teacher_quietly(caplog):
    model = nn.Module()
    model.student = nn.Linear(3, 3)
    model.teacher = nn.Linear(3, 3).requires_grad_(False)
    model.norm = nn.LayerNorm(3)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='FrozenModuleOptimWrapperConstructor',
             optim_wrapper_cfg=dict(
                 type='OptimWrapper',
                 optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04)),
             paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)))
    logger = MMLogger.get_current_instance()
    with caplog.at_level(logging.WARNING, logger=logger.name):
        wrapper = constructor(model)
    optimised = {id(p) for g in wrapper.optimizer.param_groups
                 for p in g['params']}
    assert optimised == {id(p) for p in model.student.parameters()} | \
        {id(p) for p in model.norm.parameters()}
    decay = {id(g['params'][0]): g['weight_decay']
             for g in wrapper.optimizer.param_groups}
    assert decay[id(model.student.weight)] == 0.04
    assert decay[id(model.student.bias)] == 0.0
    assert decay[id(model.norm.weight)] == 0.0
    assert not [r for r in caplog.records if 'requires_grad' in r.message]
