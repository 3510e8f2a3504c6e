import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

DEMO = 'configs/gtsa_vit-tiny_demo.py'


def _model_cfg(repo_root):
    return Config.fromfile(f'{repo_root}/{DEMO}').model


def _batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, 96, 96, generator=g) for _ in range(2)]
    inputs += [torch.randn(b, 3, 48, 48, generator=g) for _ in range(8)]
    samples = []
    for _ in range(b):
        ds = DataSample()
        xy = torch.randint(0, 40, (10, 2), generator=g).float()
        ds.crop_boxes = torch.cat([xy, xy + 60], 1)
        ds.crop_rotations = torch.randint(0, 4, (10, ), generator=g)
        samples.append(ds)
    return inputs, samples


@pytest.fixture
def hub():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    hub.update_info('epoch', 0)
    yield hub
    hub.update_info('epoch', 0)


def test_loss_keys_weights_and_pc_warmup(repo_root, hub):
    cfg = _model_cfg(repo_root)
    cfg.pc_warmup_epochs = 2
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_crop', 'loss_pc', 'loss_rot', 'acc_rot'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_pc']) == 0.0  # epoch 0 < 2
    assert -1 <= float(losses['loss_crop']) <= 1
    hub.update_info('epoch', 2)
    losses = model.loss(inputs, samples)
    assert float(losses['loss_pc']) < 0  # switched on, weight 0.5
    assert 0.5 * -1 <= float(losses['loss_pc'])


def test_teacher_is_ema_updated_before_its_forward(repo_root, hub):
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(repo_root))
    model.init_weights()
    model.train()
    assert not model.target_net.training  # no drop path in the teacher
    inputs, samples = _batch()
    model.loss(inputs, samples)  # step 0 copies the student
    student = dict(model.backbone.named_parameters())
    for name, p in model.target_net.module[0].named_parameters():
        assert torch.equal(p, student[name])
    old_teacher = {k: v.clone() for k, v in
                   model.target_net.module[0].named_parameters()}
    with torch.no_grad():  # move the student, as an optimiser step would
        for p in model.backbone.parameters():
            p.add_(0.1)
    model.loss(inputs, samples)
    m = model.target_net.momentum  # at step 1 of 100: cosine ~ start value
    import math
    m1 = 0.0 - (0.0 - m) * (math.cos(math.pi * 1 / 100) + 1) / 2
    for name, p in model.target_net.module[0].named_parameters():
        expected = old_teacher[name] * (1 - m1) + student[name] * m1
        assert torch.allclose(p, expected, atol=1e-6)
    assert int(model.target_net.steps) == 2


def test_rotation_targets_follow_views(repo_root, hub):
    """The rotation head sees view v of sample b at row v*B + b with target
    crop_rotations[b][v]."""
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(repo_root))
    model.eval()  # deterministic backbone (no drop path) to compare below
    inputs, samples = _batch(b=3)
    seen = {}
    original = model.rot_head.loss

    def recording_loss(feats, targets):
        seen['feats'], seen['targets'] = feats, targets
        return original(feats, targets)

    model.rot_head.loss = recording_loss
    model.loss(inputs, samples)
    expected = torch.stack([s.crop_rotations for s in samples]).t().reshape(-1)
    assert torch.equal(seen['targets'], expected)
    for v in (0, 5, 9):
        feats = model.backbone(inputs[v])[-1].mean((2, 3))
        assert torch.allclose(seen['feats'][v * 3:(v + 1) * 3], feats,
                              atol=1e-5)


@pytest.mark.parametrize('key,value,match', [
    ('loss_weights', dict(crop=1.0, pc=-0.5, rot=0.5), 'loss_weights.pc'),
    ('loss_weights', dict(crop=1.0, pcx=0.5), 'loss_weights'),
    ('base_momentum', 1.5, 'base_momentum'),
    ('base_momentum', 0.0, 'base_momentum'),
    ('end_momentum', -0.1, 'end_momentum'),
    ('pc_warmup_epochs', -1, 'pc_warmup_epochs'),
])
def test_bad_config_values_fail_naming_the_key(repo_root, key, value, match):
    cfg = copy.deepcopy(_model_cfg(repo_root))
    cfg[key] = value
    with pytest.raises((ValueError, KeyError), match=match):
        MODELS.build(cfg)


def test_views_must_tile_the_stride(repo_root, hub):
    model = MODELS.build(_model_cfg(repo_root))
    inputs, samples = _batch()
    inputs[3] = torch.randn(2, 3, 44, 44)
    with pytest.raises(ValueError, match='feat_stride'):
        model.loss(inputs, samples)
