"""DINO: EMA teacher after the optimiser step, last-layer freezing, logs."""
import math
import uuid

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from gtsa_plugin.models.algorithms.dino import DINODistributedDataParallel

DEMO = 'configs/dino_vit-tiny_demo.py'
MAX_ITERS = 10


@pytest.fixture
def hub():
    """A fresh MessageHub, current for the test: epoch 0 of 10 iters."""
    hub = MessageHub.get_instance(f'test_dino-{uuid.uuid4()}')
    hub.update_info('max_iters', MAX_ITERS)
    hub.update_info('epoch', 0)
    return hub


def _model(repo_root, seed=0):
    """The demo model, made smaller still (2 layers, 128 prototypes)."""
    cfg = Config.fromfile(f'{repo_root}/{DEMO}').model
    cfg.backbone.arch.num_layers = 2
    cfg.neck.out_channels = cfg.head.out_channels = 128
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _data(b=2, seed=0, num_local=3):
    """A batch as the dataloader yields it: uint8 views, globals first."""
    g = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (b, 3, 32, 32), generator=g,
                           dtype=torch.uint8) for _ in range(2)]
    views += [torch.randint(0, 256, (b, 3, 16, 16), generator=g,
                            dtype=torch.uint8) for _ in range(num_local)]
    return dict(inputs=views, data_samples=[DataSample() for _ in range(b)])


def _optim(model, lr=1e-2):
    params = [p for p in model.parameters() if p.requires_grad]
    return OptimWrapper(torch.optim.AdamW(params, lr=lr, weight_decay=0.04))


def _clone(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _student(model):
    return {**{f'0.{k}': v for k, v in _clone(model.backbone).items()},
            **{f'1.{k}': v for k, v in _clone(model.neck).items()}}


def _cosine_ema_momentum(model, step):
    ema = model.target_net
    return ema.end_momentum - (ema.end_momentum - ema.momentum) * (
        math.cos(math.pi * step / MAX_ITERS) + 1) / 2


def test_teacher_starts_as_student_in_eval_mode(repo_root, hub):
    model = _model(repo_root)
    model.train()
    assert model.training and not model.target_net.training
    teacher = _clone(model.target_net.module)
    for name, value in _student(model).items():
        assert torch.equal(teacher[name], value), name
    # The first-call copy of CosineEMA is spent at init: the next update
    # is an EMA.
    assert int(model.target_net.steps) == 1
    # Same checkpoint layout as GTSA.
    keys = model.state_dict().keys()
    assert any(k.startswith('backbone.') for k in keys)
    assert any(k.startswith('target_net.module.0.') for k in keys)
    assert 'head.center' in keys and 'target_net.steps' in keys


def test_teacher_is_ema_of_old_teacher_and_new_student(repo_root, hub):
    model = _model(repo_root)
    model.train()
    hub.update_info('epoch', 1)  # last layer trainable
    optim = _optim(model)
    # Make teacher != student first, so that "old teacher" is meaningful.
    with torch.no_grad():
        for p in model.target_net.module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    old_teacher = _clone(model.target_net.module)
    old_student = _student(model)
    step = int(model.target_net.steps)

    log_vars = model.train_step(_data(), optim)

    assert set(log_vars) == {'loss', 'teacher_temp', 'agreement'}
    new_student = _student(model)
    new_teacher = _clone(model.target_net.module)
    m = _cosine_ema_momentum(model, step)
    assert 0.0039 < m <= 0.004  # 1 - 0.996 at the start of the cosine
    assert int(model.target_net.steps) == step + 1
    moved_by_step = 0
    for name, teacher in new_teacher.items():
        expected = (1 - m) * old_teacher[name] + m * new_student[name]
        assert torch.allclose(teacher, expected, atol=1e-6, rtol=0), name
        if not torch.equal(new_student[name], old_student[name]):
            moved_by_step += 1
            # The update used the student AFTER the step, not before.
            wrong = (1 - m) * old_teacher[name] + m * old_student[name]
            assert not torch.allclose(teacher, wrong, atol=1e-7, rtol=0)
    assert moved_by_step > 10
    assert not all(torch.equal(new_teacher[k], old_teacher[k])
                   for k in new_teacher)

    # Later steps follow the cosine: momentum at step t.
    old_teacher = new_teacher
    hub.update_info('epoch', 1)
    model.train_step(_data(seed=1), optim)
    m = _cosine_ema_momentum(model, step + 1)
    new_student = _student(model)
    for name, teacher in _clone(model.target_net.module).items():
        expected = (1 - m) * old_teacher[name] + m * new_student[name]
        assert torch.allclose(teacher, expected, atol=1e-6, rtol=0), name


def test_last_layer_frozen_in_epoch_zero_only(repo_root, hub):
    model = _model(repo_root)
    model.train()
    optim = _optim(model)
    last = model.neck.last_layer.parametrizations.weight.original1
    before = last.detach().clone()
    mlp_before = model.neck.mlp[0].weight.detach().clone()
    center_before = model.head.center.clone()

    model.train_step(_data(), optim)  # epoch 0
    assert torch.equal(last, before)
    assert last not in optim.optimizer.state  # skipped: no decay, no moments
    assert not torch.equal(model.neck.mlp[0].weight, mlp_before)
    assert not torch.equal(model.head.center, center_before)

    hub.update_info('epoch', 1)
    model.train_step(_data(seed=1), optim)
    assert not torch.equal(last, before)
    # Its norm stays fixed at 1 (norm_last_layer=True).
    norms = model.neck.last_layer.weight.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_loss_and_logged_scalars(repo_root, hub):
    model = _model(repo_root)
    model.train()
    data = model.data_preprocessor(_data(), True)
    losses = model.loss(**data)
    assert set(losses) == {'loss', 'teacher_temp', 'agreement'}
    assert losses['loss'].requires_grad and torch.isfinite(losses['loss'])
    assert float(losses['teacher_temp']) == pytest.approx(0.04)
    assert 0.0 <= float(losses['agreement']) <= 1.0
    # Only 'loss' is optimised: the other two are logged scalars.
    total, log_vars = model.parse_losses(losses)
    assert torch.equal(total, losses['loss'])
    assert set(log_vars) == {'loss', 'teacher_temp', 'agreement'}
    # The teacher saw the globals only and no gradient reached it.
    assert all(p.grad is None for p in model.target_net.parameters())


def test_distributed_training_goes_through_dino_train_step(
        repo_root, hub, tmp_path):
    """Under DDP (gloo, one process) the DINO wrapper updates the teacher;
    mmengine's plain wrapper, which would bypass DINO.train_step, is
    refused."""
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/init',
                            rank=0, world_size=1)
    try:
        model = _model(repo_root)
        model.train()
        optim = _optim(model)
        ddp = DINODistributedDataParallel(module=model)
        old_teacher = _clone(model.target_net.module)
        ddp.train_step(_data(), optim)
        assert int(model.target_net.steps) == 2
        assert any(not torch.equal(v, old_teacher[k]) for k, v in
                   _clone(model.target_net.module).items())
        plain = MMDistributedDataParallel(module=model)
        with pytest.raises(RuntimeError, match='DINODistributedDataParallel'):
            plain.train_step(_data(), optim)
    finally:
        dist.destroy_process_group()


def test_rejects_bad_config(repo_root):
    cfg = Config.fromfile(f'{repo_root}/{DEMO}').model
    with pytest.raises(ValueError, match='base_momentum'):
        MODELS.build({**cfg, 'base_momentum': 2.0})
    with pytest.raises(ValueError, match='freeze_last_layer'):
        MODELS.build({**cfg, 'freeze_last_layer': -1})
