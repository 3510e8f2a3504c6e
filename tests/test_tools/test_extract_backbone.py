"""tools/model_converters/extract_backbone.py: round trips."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmpretrain.models import VisionTransformer
from repo_helpers import REPO_ROOT, load_tool

from gtsa_plugin.models.utils.pretrained_init import BackboneKeysError

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_backbone.py')
ARCH = dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
PREFIX = {'teacher': 'target_net.module.0.', 'student': 'backbone.'}


def tiny_vit(seed=None) -> VisionTransformer:
    if seed is not None:
        torch.manual_seed(seed)
    vit = VisionTransformer(arch=ARCH, img_size=96, patch_size=8,
                            norm_cfg=dict(type='LN', eps=1e-6))
    if seed is not None:
        with torch.no_grad():
            for p in vit.parameters():
                p.add_(0.02 * torch.randn_like(p))
    return vit


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/model_converters/extract_backbone.py')


@pytest.fixture(scope='module')
def pretrain(tmp_path_factory):
    """(path, {'student': sd, 'teacher': sd}) of a GTSA-style checkpoint."""
    weights = dict(student=tiny_vit(0).state_dict(),
                   teacher=tiny_vit(1).state_dict())
    state = {}
    for source, sd in weights.items():
        state.update({PREFIX[source] + k: v for k, v in sd.items()})
    state.update({'neck.w': torch.ones(2), 'head.w': torch.ones(2),
                  'target_net.module.1.w': torch.ones(2),
                  'target_net.steps': torch.tensor(5)})
    path = str(tmp_path_factory.mktemp('ckpt') / 'gtsa_epoch_3.pth')
    torch.save({'meta': {'epoch': 3, 'iter': 30}, 'state_dict': state}, path)
    return path, weights


@pytest.mark.parametrize('source', ['teacher', 'student'])
def test_extracts_the_requested_backbone(tool, pretrain, tmp_path, source):
    path, weights = pretrain
    out = str(tmp_path / 'sub' / f'{source}.pth')
    tool.main([path, out, '--source', source])

    saved = torch.load(out, weights_only=True)  # plain weights file
    assert saved['meta']['source'] == source
    assert saved['meta']['original_file'] == path
    assert saved['meta']['epoch'] == 3
    assert set(saved['state_dict']) == set(weights[source])
    for key, value in weights[source].items():
        assert torch.equal(saved['state_dict'][key], value), key


def test_default_source_is_teacher(tool, pretrain, tmp_path):
    path, weights = pretrain
    out = str(tmp_path / 'default.pth')
    tool.main([path, out])
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['source'] == 'teacher'
    assert torch.equal(saved['state_dict']['cls_token'],
                       weights['teacher']['cls_token'])


@pytest.mark.parametrize('source', ['teacher', 'student'])
def test_extracted_file_loads_through_the_initializer(tool, pretrain,
                                                      tmp_path, source):
    """Loading the extracted file gives the same weights as loading the
    full checkpoint with the same source."""
    path, weights = pretrain
    out = str(tmp_path / f'{source}.pth')
    tool.main([path, out, '--source', source])

    from_full = tiny_vit()
    from_full.init_cfg = dict(type='SSLPretrained', checkpoint=path,
                              source=source)
    from_full.init_weights()
    from_file = tiny_vit()
    from_file.init_cfg = dict(type='SSLPretrained', checkpoint=out)
    from_file.init_weights()
    for key, value in from_full.state_dict().items():
        assert torch.equal(from_file.state_dict()[key], value), key
        assert torch.equal(value, weights[source][key]), key


def test_missing_source_is_an_error(tool, pretrain, tmp_path):
    _, weights = pretrain
    student_only = str(tmp_path / 'student_only.pth')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in weights['student'].items()}},
               student_only)
    with pytest.raises(BackboneKeysError, match='no teacher backbone'):
        tool.main([student_only, str(tmp_path / 'x.pth')])


def test_command_line(pretrain, tmp_path):
    path, weights = pretrain
    out = str(tmp_path / 'cli.pth')
    proc = subprocess.run(
        [sys.executable, TOOL, path, out, '--source', 'student'],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f'wrote {len(weights["student"])} tensors' in proc.stdout
    saved = torch.load(out, weights_only=True)
    assert torch.equal(saved['state_dict']['pos_embed'],
                       weights['student']['pos_embed'])
