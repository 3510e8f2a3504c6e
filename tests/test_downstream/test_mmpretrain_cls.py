"""Classification on the tiny ViT: linear probe and fine-tuning on the
synthetic ImageNet-style folder through tools/train.py and tools/test.py
(top-1/top-5), and the iNat 2019 configs' datasets."""
import json
import os
import os.path as osp

import pytest
import torch
from downstream_helpers import (assert_finite_metrics, config_path,
                                last_checkpoint, mmpretrain_options,
                                train_then_test)
from PIL import Image


def _backbone(state_dict: dict, prefix: str) -> dict:
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


@pytest.mark.slow
def test_linear_probe_train_and_test(cli, pretrain_ckpt, synthetic_data,
                                     tmp_path):
    work_dir = str(tmp_path / 'work')
    metrics = train_then_test(
        cli, config_path('linear_probe'), work_dir,
        mmpretrain_options(synthetic_data, pretrain_ckpt, linear_probe=True))
    assert_finite_metrics(metrics, ['accuracy/top1', 'accuracy/top5'])

    # The probe trained only the head: the saved backbone is still exactly
    # the pretrained teacher.
    saved = torch.load(last_checkpoint(work_dir), weights_only=False)
    teacher = _backbone(torch.load(pretrain_ckpt)['state_dict'],
                        'target_net.module.0.')
    backbone = _backbone(saved['state_dict'], 'backbone.')
    assert set(backbone) == set(teacher)
    for key, value in teacher.items():
        assert torch.equal(backbone[key], value), key
    head = saved['state_dict']['head.fc.weight']
    assert head.shape == (5, 96)


@pytest.mark.slow
def test_finetune_train_and_test(cli, pretrain_ckpt, synthetic_data,
                                 tmp_path):
    work_dir = str(tmp_path / 'work')
    metrics = train_then_test(
        cli, config_path('finetune'), work_dir,
        mmpretrain_options(synthetic_data, pretrain_ckpt, linear_probe=False))
    assert_finite_metrics(metrics, ['accuracy/top1', 'accuracy/top5'])

    # Fine-tuning moved the backbone away from the teacher it started from.
    saved = torch.load(last_checkpoint(work_dir), weights_only=False)
    teacher = _backbone(torch.load(pretrain_ckpt)['state_dict'],
                        'target_net.module.0.')
    backbone = _backbone(saved['state_dict'], 'backbone.')
    assert not torch.equal(backbone['layers.3.ffn.layers.1.weight'],
                           teacher['layers.3.ffn.layers.1.weight'])


def _fake_inat(root: str) -> None:
    """Two tiny iNat-2019-style splits: 3 categories (ids 5, 7, 9)."""
    cats = [dict(id=i, name=f'species_{i}', kingdom='Plants')
            for i in (9, 5, 7)]
    for split, n in (('train', 6), ('val', 3)):
        images, anns = [], []
        for j in range(n):
            name = f'train_val2019/Plants/{j % 3}/{split}_{j}.jpg'
            os.makedirs(osp.dirname(osp.join(root, name)), exist_ok=True)
            Image.new('RGB', (40, 32), (j * 30, 10, 200)).save(
                osp.join(root, name))
            images.append(dict(id=100 + j, file_name=name, width=40,
                               height=32))
            anns.append(dict(id=200 + j, image_id=100 + j,
                             category_id=(5, 7, 9)[j % 3]))
        with open(osp.join(root, f'{split}2019.json'), 'w') as f:
            json.dump(dict(images=images, annotations=anns,
                           categories=cats), f)


@pytest.mark.parametrize('name', ['finetune_inat', 'linear_probe_inat'])
def test_inat_configs_read_inat_json(name, tmp_path):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    from gtsa_plugin.apis.cli import load_config, register_toolkit

    root = str(tmp_path / 'inat2019')
    _fake_inat(root)
    cfg = load_config(config_path(name))
    assert cfg.model.head.num_classes == 1010
    assert cfg.data_preprocessor.num_classes == 1010
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
    })
    register_toolkit(cfg)
    init_default_scope('mmpretrain')
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.test_dataloader.dataset)
    assert type(train).__name__ == 'INat2019'
    assert len(train) == 6 and len(val) == 3
    assert train.metainfo['classes'] == ('species_5', 'species_7',
                                         'species_9')
    # category ids 5/7/9 -> labels 0/1/2, images matched by image_id
    assert [train.get_data_info(i)['gt_label'] for i in range(6)] == \
        [0, 1, 2, 0, 1, 2]
    sample = train[0]  # through the config's full train pipeline
    assert sample['inputs'].shape == (3, 224, 224)
    assert int(sample['data_samples'].gt_label) == 0
    assert val[1]['inputs'].shape == (3, 224, 224)
