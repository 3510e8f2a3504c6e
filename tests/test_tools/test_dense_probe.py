"""Dense probes on stub backbones whose features are known: one-hot labels
(perfect), constant (chance), and a tiny CNN read from a checkpoint."""
from __future__ import annotations

import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

CELL = 8  # stub stride
K = 3  # classes
LEVELS = [20 + 80 * c for c in range(K)]  # grey level of each class


@pytest.fixture(scope='module')
def stub_backbone():
    """``LabelStubBackbone``: reads each 8x8 cell's grey level back into a
    one-hot class vector (the features ARE the labels), or, with
    ``constant=True``, gives the same vector everywhere."""
    from mmengine.model import BaseModule
    from mmpretrain.registry import MODELS

    class LabelStubBackbone(BaseModule):

        def __init__(self, constant: bool = False) -> None:
            super().__init__()
            self.constant = constant

        def forward(self, x):
            cells = F.avg_pool2d(x[:, :1], CELL)  # (B, 1, h, w)
            if self.constant:
                return (torch.ones(x.shape[0], K, *cells.shape[2:]), )
            cls = ((cells[:, 0] - LEVELS[0]) / (LEVELS[1] - LEVELS[0])).round()
            onehot = F.one_hot(cls.long().clamp(0, K - 1), K)
            return (onehot.permute(0, 3, 1, 2).float(), )

    MODELS.register_module(module=LabelStubBackbone, force=True)
    return 'LabelStubBackbone'


def _write_ade(root: str, n_train: int = 12, n_val: int = 4,
               grid=(6, 8), label_scale: int = 1, seed: int = 0) -> str:
    """ADE-style folder: each image an 8 px grid of grey cells whose level
    is the class; labels ``class + 1`` (0 = ignore) at ``label_scale``
    pixels per cell. Classes drawn with p = (0.5, 0.3, 0.2)."""
    rng = np.random.default_rng(seed)
    h, w = grid
    for split, n in (('training', n_train), ('validation', n_val)):
        os.makedirs(osp.join(root, 'images', split))
        os.makedirs(osp.join(root, 'annotations', split))
        for i in range(n):
            cls = rng.choice(K, size=(h, w), p=[0.5, 0.3, 0.2])
            img = np.kron(np.asarray(LEVELS, np.uint8)[cls],
                          np.ones((CELL, CELL), np.uint8))
            Image.fromarray(np.stack([img] * 3, -1)).save(
                osp.join(root, 'images', split, f'{i:03d}.png'))
            lab = np.kron((cls + 1).astype(np.uint8),
                          np.ones((label_scale, label_scale), np.uint8))
            Image.fromarray(lab).save(
                osp.join(root, 'annotations', split, f'{i:03d}.png'))
    return root


def _stub_config(tmp_path, **backbone) -> str:
    path = tmp_path / 'stub_cfg.py'
    path.write_text(
        f'model = dict(backbone={backbone!r}, data_preprocessor=dict('
        'mean=[0., 0., 0.], std=[1., 1., 1.], to_rgb=True))\n')
    return str(path)


def _probe(tool_module, argv, size=(64, 48)):
    tool = tool_module('tools/analysis/dense_probe.py')
    return tool.main(argv + ['--no-progress', '--img-size'] +
                     [str(s) for s in size])


def test_features_that_are_labels_give_miou_100(tmp_path, tool_module,
                                                stub_backbone):
    # Labels at cell resolution: the score maps need no upsampling, so a
    # perfect feature is scored exactly (bilinear upsampling would blur
    # corners where three cells of two classes meet).
    data = _write_ade(str(tmp_path / 'ade'))
    cfg = _stub_config(tmp_path, type=stub_backbone)
    out = tmp_path / 'probe.json'
    result = _probe(tool_module, [
        cfg, '--random-init', '--data', data, '--out', str(out), '--k', '5',
        '--cache-dir', str(tmp_path / 'cache')
    ])
    assert result['num_classes'] == K
    assert result['feature_map'] == [K, 6, 8]
    for name in ('linear', 'knn'):
        m = result['metrics'][name]
        assert m['mIoU'] == pytest.approx(100.)
        assert m['aAcc'] == pytest.approx(100.)
    assert json.loads(out.read_text())['metrics'] == result['metrics']


def test_constant_features_are_at_chance(tmp_path, tool_module,
                                         stub_backbone):
    data = _write_ade(str(tmp_path / 'ade'), label_scale=CELL)
    cfg = _stub_config(tmp_path, type=stub_backbone, constant=True)
    n_train_patches = 12 * 6 * 8
    result = _probe(tool_module, [
        cfg, '--random-init', '--data', data, '--cache-dir', '',
        '--k', str(n_train_patches)  # every neighbour ties: votes = counts
    ])
    # Both probes can only predict the most frequent training class.
    from gtsa_plugin.evaluation.frozen_features import ade_pairs, load_label
    train = np.concatenate([load_label(p).ravel()
                            for _, p in ade_pairs(data, 'training')])
    major = np.bincount(train, minlength=K).argmax()
    val = np.concatenate([load_label(p).ravel()
                          for _, p in ade_pairs(data, 'validation')])
    freq = (val == major).mean() * 100
    lin, knn = result['metrics']['linear'], result['metrics']['knn']
    for m in (lin, knn):
        assert m['aAcc'] == pytest.approx(freq)
        # IoU of the predicted class = its frequency; the others are 0.
        assert m['mIoU'] == pytest.approx(freq / K)
    assert lin == knn


def test_cnn_backbone_from_checkpoint_and_cache(tmp_path, tool_module):
    """A tiny mmpretrain ResNet's last stage, teacher vs student weights
    read from a GTSA-layout checkpoint, and the feature cache."""
    from mmpretrain.registry import MODELS
    backbone = dict(type='ResNet', depth=18, stem_channels=8,
                    base_channels=8, out_indices=(3, ))
    cfg = _stub_config(tmp_path, **backbone)
    data = _write_ade(str(tmp_path / 'ade'), n_train=4, n_val=2,
                      grid=(12, 16), label_scale=CELL)
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(MODELS.build(backbone))
    state = {f'backbone.{k}': v for k, v in nets[0].state_dict().items()}
    state.update({f'target_net.module.0.{k}': v
                  for k, v in nets[1].state_dict().items()})
    ckpt = tmp_path / 'pretrain.pth'
    torch.save({'meta': {}, 'state_dict': state}, str(ckpt))
    cache = tmp_path / 'cache'
    common = [cfg, str(ckpt), '--data', data, '--cache-dir', str(cache),
              '--k', '3', '--linear-epochs', '2']
    teacher = _probe(tool_module, common, size=(128, 96))
    assert teacher['feature_map'] == [64, 3, 4]  # stride 32 on 128 x 96
    assert teacher['source'] == 'teacher'
    assert len(os.listdir(cache)) == 1
    again = _probe(tool_module, common, size=(128, 96))  # read from the cache
    assert again['metrics'] == teacher['metrics']
    assert len(os.listdir(cache)) == 1
    student = _probe(tool_module, common + ['--source', 'student'],
                     size=(128, 96))
    assert len(os.listdir(cache)) == 2
    for m in (teacher, student):
        for name in ('linear', 'knn'):
            assert 0 <= m['metrics'][name]['mIoU'] <= 100
