"""SSLPretrained: loading GTSA/DINO pretraining checkpoints into a ViT."""
import argparse
import uuid

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule, initialize
from mmengine.registry import DefaultScope
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from gtsa_plugin.models.utils.pretrained_init import (
    BackboneKeysError, SSLPretrainedInit, extract_backbone_state_dict)
from gtsa_plugin.utils.checkpoint import UnsafeCheckpointError

ARCH = dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
TEACHER, STUDENT = 'target_net.module.0.', 'backbone.'


def tiny_vit(seed=None, **kwargs) -> VisionTransformer:
    """Tiny ViT; with ``seed`` every tensor is random (LayerNorms too)."""
    cfg = dict(arch=ARCH, img_size=96, patch_size=8, final_norm=True,
               norm_cfg=dict(type='LN', eps=1e-6))
    cfg.update(kwargs)
    if seed is not None:
        torch.manual_seed(seed)
    vit = VisionTransformer(**cfg)
    if seed is not None:
        with torch.no_grad():
            for p in vit.parameters():
                p.add_(0.02 * torch.randn_like(p))
    return vit


def sd(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope='module')
def weights():
    return dict(student=sd(tiny_vit(0)), teacher=sd(tiny_vit(1)))


@pytest.fixture
def pretrain_file(tmp_path, weights):
    state = {STUDENT + k: v for k, v in weights['student'].items()}
    state.update({TEACHER + k: v for k, v in weights['teacher'].items()})
    state.update({'neck.w': torch.ones(2), 'rot_head.b': torch.ones(3),
                  'target_net.module.1.w': torch.ones(2),
                  'target_net.steps': torch.tensor(3),
                  'data_preprocessor.mean': torch.zeros(3)})
    path = str(tmp_path / 'gtsa_epoch_1.pth')
    torch.save({'meta': {'epoch': 1}, 'state_dict': state}, path)
    return path


def init_with(vit: BaseModule, **init_cfg) -> BaseModule:
    """Run ``init_weights()`` the way the Runner does, with our init_cfg."""
    vit.init_cfg = dict(type='SSLPretrained', **init_cfg)
    vit.init_weights()
    return vit


def assert_weights(module, expected: dict) -> None:
    actual = module.state_dict()
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


@pytest.fixture
def log_file(tmp_path):
    """A fresh current MMLogger writing to a file; returns a reader."""
    path = tmp_path / 'log.txt'
    MMLogger.get_instance(f'test-{uuid.uuid4().hex}', log_file=str(path))
    return lambda: path.read_text()


def test_teacher_by_default(pretrain_file, weights, log_file):
    vit = init_with(tiny_vit(), checkpoint=pretrain_file)
    assert_weights(vit, weights['teacher'])
    log = log_file()
    assert 'loaded 54/54 weights' in log and 'teacher backbone' in log
    assert pretrain_file in log


def test_student_on_request(pretrain_file, weights):
    vit = init_with(tiny_vit(), checkpoint=pretrain_file, source='student')
    assert_weights(vit, weights['student'])


def test_children_init_does_not_overwrite(pretrain_file, weights):
    """Inside a parent module (as a detector's backbone): the parent's
    init_weights must not let the ViT's FFN xavier init or pos_embed
    re-draw clobber the loaded weights."""

    class Detector(BaseModule):

        def __init__(self):
            super().__init__()
            self.backbone = tiny_vit(
                init_cfg=dict(type='SSLPretrained', checkpoint=pretrain_file))
            self.head = torch.nn.Linear(4, 4)

    model = Detector()
    model.init_weights()
    assert_weights(model.backbone, weights['teacher'])


@pytest.mark.parametrize('layout', ['backbone_only', 'flat', 'model_key'])
def test_backbone_only_layouts(layout, tmp_path, weights):
    teacher = weights['teacher']
    content = {
        'backbone_only': {'meta': {'source': 'teacher'},
                          'state_dict': teacher},
        'flat': teacher,
        'model_key': {'model': teacher, 'epoch': 3},
    }[layout]
    path = str(tmp_path / f'{layout}.pth')
    torch.save(content, path)
    # ``source`` does not apply to a file holding one backbone
    vit = init_with(tiny_vit(), checkpoint=path, source='student')
    assert_weights(vit, teacher)


def test_pos_embed_is_resized(pretrain_file, weights):
    vit = init_with(tiny_vit(img_size=128), checkpoint=pretrain_file)
    ckpt_pos = weights['teacher']['pos_embed']  # 12 x 12 grid + cls
    assert vit.pos_embed.shape == (1, 16 * 16 + 1, 96)
    expected = resize_pos_embed(ckpt_pos, (12, 12), (16, 16), 'bicubic', 1)
    assert torch.equal(vit.pos_embed.detach(), expected)
    assert torch.equal(vit.pos_embed[:, 0], ckpt_pos[:, 0])  # cls slot kept
    others = {k: v for k, v in weights['teacher'].items() if k != 'pos_embed'}
    for key, value in others.items():
        assert torch.equal(vit.state_dict()[key], value), key


def test_unexpected_keys_are_reported(pretrain_file, weights, log_file):
    vit = init_with(tiny_vit(final_norm=False), checkpoint=pretrain_file)
    expected = {k: v for k, v in weights['teacher'].items()
                if not k.startswith('ln1.')}
    assert_weights(vit, expected)
    log = log_file()
    assert 'WARNING' in log and 'ln1.bias, ln1.weight' in log


def test_missing_keys_raise_naming_file_and_keys(tmp_path, weights):
    broken = dict(weights['teacher'])
    del broken['layers.2.ffn.layers.0.0.weight']
    del broken['cls_token']
    path = str(tmp_path / 'broken.pth')
    torch.save({'state_dict': broken}, path)
    with pytest.raises(BackboneKeysError) as err:
        init_with(tiny_vit(), checkpoint=path)
    msg = str(err.value)
    assert path in msg
    assert 'layers.2.ffn.layers.0.0.weight' in msg and 'cls_token' in msg


def test_missing_keys_warn_loudly_when_not_strict(tmp_path, weights,
                                                  log_file):
    broken = dict(weights['teacher'])
    del broken['layers.0.attn.proj.bias']
    path = str(tmp_path / 'broken.pth')
    torch.save({'state_dict': broken}, path)
    vit = init_with(tiny_vit(), checkpoint=path, strict=False)
    # everything else is loaded, also the rest of the block with the gap
    for key, value in broken.items():
        assert torch.equal(vit.state_dict()[key], value), key
    log = log_file()
    assert 'WARNING' in log and 'MISSES 1' in log
    assert 'layers.0.attn.proj.bias' in log and path in log


def test_allow_missing_downstream_layers(pretrain_file, weights):
    vit = tiny_vit(out_type='avg_featmap', final_norm=False)
    with pytest.raises(BackboneKeysError, match='ln2'):
        init_with(tiny_vit(out_type='avg_featmap', final_norm=False),
                  checkpoint=pretrain_file)
    init_with(vit, checkpoint=pretrain_file, allow_missing=['ln2.'])
    for key, value in weights['teacher'].items():
        if not key.startswith('ln1.'):
            assert torch.equal(vit.state_dict()[key], value), key
    # ln2 keeps its fresh LayerNorm init
    assert torch.equal(vit.ln2.weight, torch.ones(96))


def test_student_only_checkpoint_needs_source_student(tmp_path, weights):
    path = str(tmp_path / 'classifier.pth')
    torch.save({'state_dict': {STUDENT + k: v
                               for k, v in weights['student'].items()}},
               path)
    with pytest.raises(BackboneKeysError, match="source='student'"):
        init_with(tiny_vit(), checkpoint=path)
    vit = init_with(tiny_vit(), checkpoint=path, source='student')
    assert_weights(vit, weights['student'])


@pytest.mark.parametrize('checkpoint', [None, ''])
def test_unset_checkpoint_names_the_config_key(checkpoint):
    with pytest.raises(ValueError,
                       match=r'model\.backbone\.init_cfg\.checkpoint'):
        init_with(tiny_vit(), checkpoint=checkpoint)


def test_invalid_source():
    with pytest.raises(ValueError, match='teacher'):
        SSLPretrainedInit(checkpoint='x.pth', source='ema')


def test_shape_mismatch_names_the_file(tmp_path):
    path = str(tmp_path / 'wide.pth')
    wide = dict(embed_dims=192, num_layers=4, num_heads=3,
                feedforward_channels=384)
    torch.save({'state_dict': sd(tiny_vit(0, arch=wide))}, path)
    with pytest.raises(RuntimeError, match='wide.pth'):
        init_with(tiny_vit(), checkpoint=path)


def test_loads_through_the_safe_loader(tmp_path, weights):
    """Pickles outside the weights_only allow-list are refused."""
    path = str(tmp_path / 'unsafe.pth')
    torch.save({'state_dict': weights['teacher'],
                'args': argparse.Namespace(lr=1)}, path)
    with pytest.raises(UnsafeCheckpointError):
        init_with(tiny_vit(), checkpoint=path)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_resolves_in_every_toolkit_scope(scope, pretrain_file, weights):
    import importlib
    importlib.import_module(f'{scope}.registry')
    vit = tiny_vit()
    with DefaultScope.overwrite_default_scope(scope):
        initialize(vit, dict(type='SSLPretrained', checkpoint=pretrain_file))
    assert_weights(vit, weights['teacher'])


def test_extract_backbone_state_dict(weights, pretrain_file):
    ckpt = torch.load(pretrain_file)
    for source in ('teacher', 'student'):
        state, layout = extract_backbone_state_dict(ckpt, source)
        assert layout == 'pretraining'
        assert set(state) == set(weights[source])
        assert all(torch.equal(state[k], weights[source][k]) for k in state)
    state, layout = extract_backbone_state_dict(
        {'state_dict': weights['teacher']}, 'student')
    assert layout == 'backbone' and set(state) == set(weights['teacher'])
