"""The frozen-ViT linear segmentation config: train a few iterations with
tools/train.py on synthetic ADE20K, evaluate with tools/test.py (mmseg's
IoUMetric), and check that the backbone did not move."""
import os.path as osp

import pytest
import torch
from downstream_helpers import (CONFIG_DIR, TINY_ARCH, _loader_options,
                                assert_finite_metrics, last_checkpoint,
                                tiny_backbone_options, train_then_test)

CONFIG = osp.join(CONFIG_DIR, 'mmseg/linear_vit-s_frozen_40k_ade20k.py')


@pytest.mark.slow
def test_linear_frozen_train_and_test(cli, pretrain_ckpt, synthetic_data,
                                      tmp_path):
    n = TINY_ARCH['num_layers']
    d = TINY_ARCH['embed_dims']
    crop = (128, 128)
    k = len(synthetic_data['classes']['ade'])
    options = tiny_backbone_options(pretrain_ckpt)
    options.update({
        'model.backbone.img_size': crop,
        'model.backbone.out_indices': [n - 1],
        'model.backbone.frozen_stages': n,
        'model.data_preprocessor.size': crop,
        'model.decode_head.in_channels': d,
        'model.decode_head.channels': d,
        'model.decode_head.num_classes': k,
        'train_dataloader.dataset.pipeline.2.scale': (512, 128),
        'train_dataloader.dataset.pipeline.3.crop_size': crop,
        'val_dataloader.dataset.pipeline.1.scale': (512, 128),
        'test_dataloader.dataset.pipeline.1.scale': (512, 128),
        'train_cfg.max_iters': 3,
        'train_cfg.val_interval': 100,  # tools/test.py evaluates
        'default_hooks.logger.interval': 1,
    })
    for split in ('train', 'val', 'test'):
        options.update(_loader_options(split, synthetic_data['root'] + '/ade'))
    work_dir = str(tmp_path / 'work')
    metrics = train_then_test(cli, CONFIG, work_dir, options)
    assert_finite_metrics(metrics, ['mIoU', 'aAcc'])

    # Only the head learned: the backbone equals the pretrained teacher
    # (pos_embed aside: resized from the 12 x 12 grid on loading).
    trained = torch.load(last_checkpoint(work_dir), map_location='cpu',
                         weights_only=False)['state_dict']
    teacher = torch.load(pretrain_ckpt, map_location='cpu',
                         weights_only=False)['state_dict']
    prefix = 'target_net.module.0.'
    backbone = {k[len('backbone.'):]: v for k, v in trained.items()
                if k.startswith('backbone.')}
    assert backbone
    for key, value in backbone.items():
        if key == 'pos_embed':
            continue
        assert torch.equal(value, teacher[prefix + key]), key
    head = [k for k in trained if k.startswith('decode_head.')]
    assert sorted(head) == ['decode_head.conv_seg.bias',
                            'decode_head.conv_seg.weight']
