"""tools/model_converters/dino_official_to_plugin.py on fake reference
checkpoints shaped like configs/dino_vit-tiny_demo.py."""
from __future__ import annotations

import argparse
import fractions
import os.path as osp

import pytest
import torch

from gtsa_plugin.utils.checkpoint import UnsafeCheckpointError, safe_load

CONFIG = 'configs/dino_vit-tiny_demo.py'
# configs/dino_vit-tiny_demo.py: ViT 96 dims, 4 blocks, 3 heads, MLP 384,
# 8 px patches on 96 px crops; head 96 -> 256 -> 256 -> 64, 1024 prototypes.
DIMS, DEPTH, MLP, PATCH, IMG = 96, 4, 384, 8, 96
HID, BOTTLENECK, PROTOS = 256, 64, 1024


def fake_backbone(g: torch.Generator) -> dict:
    """A ViT state dict in the timm/DINO layout with the demo's shapes."""
    sd = {
        'cls_token': torch.randn(1, 1, DIMS, generator=g),
        'pos_embed': torch.randn(1, (IMG // PATCH)**2 + 1, DIMS, generator=g),
        'patch_embed.proj.weight': torch.randn(DIMS, 3, PATCH, PATCH,
                                               generator=g),
        'patch_embed.proj.bias': torch.randn(DIMS, generator=g),
        'norm.weight': torch.randn(DIMS, generator=g),
        'norm.bias': torch.randn(DIMS, generator=g),
    }
    shapes = {
        'norm1.weight': (DIMS, ), 'norm1.bias': (DIMS, ),
        'attn.qkv.weight': (3 * DIMS, DIMS), 'attn.qkv.bias': (3 * DIMS, ),
        'attn.proj.weight': (DIMS, DIMS), 'attn.proj.bias': (DIMS, ),
        'norm2.weight': (DIMS, ), 'norm2.bias': (DIMS, ),
        'mlp.fc1.weight': (MLP, DIMS), 'mlp.fc1.bias': (MLP, ),
        'mlp.fc2.weight': (DIMS, MLP), 'mlp.fc2.bias': (DIMS, ),
    }
    for i in range(DEPTH):
        for name, shape in shapes.items():
            sd[f'blocks.{i}.{name}'] = torch.randn(*shape, generator=g)
    return sd


def fake_head(g: torch.Generator) -> dict:
    """DINOHead (3 Linear layers, no BN, weight-normalised last layer)."""
    return {
        'mlp.0.weight': torch.randn(HID, DIMS, generator=g),
        'mlp.0.bias': torch.randn(HID, generator=g),
        'mlp.2.weight': torch.randn(HID, HID, generator=g),
        'mlp.2.bias': torch.randn(HID, generator=g),
        'mlp.4.weight': torch.randn(BOTTLENECK, HID, generator=g),
        'mlp.4.bias': torch.randn(BOTTLENECK, generator=g),
        'last_layer.weight_g': torch.rand(PROTOS, 1, generator=g) + 0.5,
        'last_layer.weight_v': torch.randn(PROTOS, BOTTLENECK, generator=g),
    }


def fake_dino_checkpoint() -> dict:
    """main_dino.py's layout: DDP-wrapped student, bare teacher, loss
    centre, and the run's argparse Namespace."""
    g = torch.Generator().manual_seed(0)
    student = {f'module.backbone.{k}': v for k, v in fake_backbone(g).items()}
    student.update({f'module.head.{k}': v for k, v in fake_head(g).items()})
    teacher = {f'backbone.{k}': v for k, v in fake_backbone(g).items()}
    teacher.update({f'head.{k}': v for k, v in fake_head(g).items()})
    return dict(
        student=student,
        teacher=teacher,
        optimizer=dict(state={}, param_groups=[dict(lr=1e-3, params=[0])]),
        epoch=100,
        args=argparse.Namespace(arch='vit_small', patch_size=16,
                                out_dim=PROTOS, lr=5e-4,
                                local_crops_scale=(0.05, 0.4)),
        dino_loss=dict(center=torch.randn(1, PROTOS, generator=g)))


def build_dino(repo_root):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    return MODELS.build(cfg.model)


def test_full_checkpoint_loads_strictly_into_our_dino(tool_module, repo_root,
                                                      tmp_path):
    conv = tool_module('tools/model_converters/dino_official_to_plugin.py')
    src, dst = tmp_path / 'dino_official.pth', tmp_path / 'dino_plugin.pth'
    official = fake_dino_checkpoint()
    torch.save(official, src)
    assert conv.main([str(src), str(dst)]) == 0

    out = safe_load(dst)  # plain tensors and meta: weights_only loadable
    sd = out['state_dict']
    assert out['meta']['official_epoch'] == 100
    assert out['meta']['official_args']['local_crops_scale'] == [0.05, 0.4]
    model = build_dino(repo_root)
    model.load_state_dict(sd, strict=True)

    t, s = official['teacher'], official['student']
    pairs = {
        'target_net.module.0.layers.2.attn.qkv.weight':
        t['backbone.blocks.2.attn.qkv.weight'],
        'target_net.module.0.layers.3.ffn.layers.0.0.bias':
        t['backbone.blocks.3.mlp.fc1.bias'],
        'target_net.module.0.ln1.weight': t['backbone.norm.weight'],
        'backbone.layers.0.ln2.bias': s['module.backbone.blocks.0.norm2.bias'],
        'backbone.patch_embed.projection.weight':
        s['module.backbone.patch_embed.proj.weight'],
        'neck.mlp.4.weight': s['module.head.mlp.4.weight'],
        'target_net.module.1.mlp.0.bias': t['head.mlp.0.bias'],
        'head.center': official['dino_loss']['center'],
    }
    state = model.state_dict()
    for ours, theirs in pairs.items():
        torch.testing.assert_close(state[ours], theirs, rtol=0, atol=0)
    # weight_norm: the prototypes are g * v / ||v|| in both implementations.
    g, v = t['head.last_layer.weight_g'], t['head.last_layer.weight_v']
    torch.testing.assert_close(
        model.target_net.module[1].last_layer.weight,
        g * v / v.norm(dim=1, keepdim=True))
    assert int(state['target_net.steps']) == 1

    # The tool's own check against a config agrees.
    assert conv.main([str(src), str(tmp_path / 'again.pth'),
                      '--check-config', osp.join(repo_root, CONFIG)]) == 0


def test_backbone_only_release_becomes_a_teacher_backbone(
        tool_module, repo_root, tmp_path):
    """DINO-style releases hold the teacher's bare backbone: it converts to
    ``target_net.module.0.*``, which the downstream initialiser reads."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    from gtsa_plugin.models.utils.pretrained_init import \
        extract_backbone_state_dict
    conv = tool_module('tools/model_converters/dino_official_to_plugin.py')
    src, dst = tmp_path / 'backbone.pth', tmp_path / 'converted.pth'
    torch.save(fake_backbone(torch.Generator().manual_seed(3)), src)
    assert conv.main([str(src), str(dst)]) == 0
    out = safe_load(dst)
    assert set(k.split('.')[0] for k in out['state_dict']) == {'target_net'}
    assert all(k.startswith('target_net.module.0.') or k == 'target_net.steps'
               for k in out['state_dict'])
    backbone_sd, layout = extract_backbone_state_dict(out, 'teacher')
    assert layout == 'pretraining'
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    backbone = MODELS.build(cfg.model.backbone)
    backbone.load_state_dict(backbone_sd, strict=True)


def test_unknown_layouts_and_unsafe_files_are_refused(tool_module, tmp_path):
    conv = tool_module('tools/model_converters/dino_official_to_plugin.py')
    g = torch.Generator().manual_seed(0)
    head_bn = dict(fake_head(g), **{'mlp.1.running_mean': torch.zeros(HID)})
    with pytest.raises(conv.ConversionError, match='BatchNorm'):
        conv.convert(dict(teacher={
            **{f'backbone.{k}': v for k, v in fake_backbone(g).items()},
            **{f'head.{k}': v for k, v in head_bn.items()}}))
    with pytest.raises(conv.ConversionError, match='dist_token'):
        conv.convert(dict(fake_backbone(g), dist_token=torch.zeros(1, 1, 4)))

    # A pickle asking for anything outside the allow-list is never run.
    bad = tmp_path / 'bad.pth'
    torch.save(dict(fake_backbone(g), note=fractions.Fraction(1, 3)), bad)
    with pytest.raises(UnsafeCheckpointError):
        conv.main([str(bad), str(tmp_path / 'out.pth')])
