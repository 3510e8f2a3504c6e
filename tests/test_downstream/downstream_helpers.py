"""Helpers of the downstream tests: the tiny ViT, ``--cfg-options`` that
shrink each config, and the train -> test round trip through the CLI code.

Every run uses the repo's real configs; only sizes (backbone width/depth,
image scales), class counts, iteration counts and paths are overridden with
``--cfg-options``, as a user would.
"""
from __future__ import annotations

import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from repo_helpers import REPO_ROOT, load_tool  # noqa: F401 (re-export)

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'downstream')

#: Tiny ViT used everywhere in the tests (ViT-S/16 shrunk).
TINY_ARCH = dict(
    embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
TINY_PATCH = 8
TINY_IMG = 96
NUM_CLASSES = 5  # >= 5 so that top-5 accuracy is defined

CONFIGS = {
    'mask_rcnn': 'mmdet/mask-rcnn_vit-s_fpn_1x_coco.py',
    'semfpn': 'mmseg/semfpn_vit-s_40k_ade20k.py',
    'semfpn_multiscale': 'mmseg/semfpn_vit-s_multiscale_40k_ade20k.py',
    'linear_probe':
    'mmpretrain/vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py',
    'finetune': 'mmpretrain/vit-s-p16_finetune_8xb128-300e_imagenet-folder.py',
    'linear_probe_inat':
    'mmpretrain/vit-s-p16_linear-probe_8xb512-90e_inat2019.py',
    'finetune_inat': 'mmpretrain/vit-s-p16_finetune_8xb128-300e_inat2019.py',
}


def config_path(name: str) -> str:
    return osp.join(CONFIG_DIR, CONFIGS[name])


def tiny_vit(seed: int, **kwargs) -> torch.nn.Module:
    """A tiny mmpretrain VisionTransformer with distinct random weights
    (every parameter, LayerNorms included, depends on ``seed``)."""
    from mmpretrain.models import VisionTransformer

    torch.manual_seed(seed)
    cfg = dict(arch=TINY_ARCH, img_size=TINY_IMG, patch_size=TINY_PATCH,
               qkv_bias=True, norm_cfg=dict(type='LN', eps=1e-6),
               final_norm=True, with_cls_token=True)
    cfg.update(kwargs)
    vit = VisionTransformer(**cfg)  # PyTorch default init, zero embeddings
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return vit


def save_pretrain_checkpoint(path: str, student: torch.nn.Module,
                             teacher: torch.nn.Module) -> str:
    """Write an mmengine-style GTSA/DINO pretraining checkpoint."""
    state_dict = {}
    for k, v in student.state_dict().items():
        state_dict['backbone.' + k] = v.clone()
    for k, v in teacher.state_dict().items():
        state_dict['target_net.module.0.' + k] = v.clone()
    # Non-backbone entries the initializer must ignore.
    state_dict['neck.x'] = torch.zeros(3)
    state_dict['head.y'] = torch.zeros(2, 2)
    state_dict['target_net.module.1.x'] = torch.zeros(3)
    state_dict['target_net.steps'] = torch.tensor(7)
    torch.save({'meta': {'epoch': 1}, 'state_dict': state_dict}, path)
    return path


# ------------------------------------------------------------ overrides
def _fmt(value) -> str:
    """A value as ``--cfg-options`` text (DictAction syntax)."""
    if isinstance(value, (list, tuple)):
        inner = ','.join(_fmt(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def to_cli(options: Dict[str, object]) -> List[str]:
    return [f'{k}={_fmt(v)}' for k, v in options.items()]


def tiny_backbone_options(ckpt: Optional[str]) -> dict:
    opts = {
        'model.backbone.arch.embed_dims': TINY_ARCH['embed_dims'],
        'model.backbone.arch.num_layers': TINY_ARCH['num_layers'],
        'model.backbone.arch.num_heads': TINY_ARCH['num_heads'],
        'model.backbone.arch.feedforward_channels':
        TINY_ARCH['feedforward_channels'],
        'model.backbone.patch_size': TINY_PATCH,
    }
    if ckpt is not None:
        opts['model.backbone.init_cfg.checkpoint'] = ckpt
    return opts


def _loader_options(split: str, data_root: str, workers: int = 0) -> dict:
    return {
        f'{split}_dataloader.dataset.data_root': data_root,
        f'{split}_dataloader.num_workers': workers,
        f'{split}_dataloader.persistent_workers': False,
    }


def mmdet_options(data: dict, ckpt: Optional[str]) -> dict:
    d = TINY_ARCH['embed_dims']
    classes = tuple(data['classes']['coco'])
    root = data['root'] + '/coco/'
    opts = tiny_backbone_options(ckpt)
    opts.update({
        'model.backbone.img_size': TINY_IMG,
        'model.backbone.out_indices': [0, 1, 2, 3],
        'model.neck.0.in_channels': d,
        # patch 8: 2x, 1x, 1/2, 1/4 give strides 4/8/16/32 as the heads want
        'model.neck.0.scale_factors': [2.0, 1.0, 0.5, 0.25],
        'model.neck.1.in_channels': [d] * 4,
        'model.roi_head.bbox_head.num_classes': len(classes),
        'model.roi_head.mask_head.num_classes': len(classes),
        # small images: the DETR-style scales shrunk
        'train_dataloader.dataset.pipeline.3.transforms.0.0.scales':
        [(96, 160), (128, 192)],
        'train_dataloader.dataset.pipeline.3.transforms.1.0.scales':
        [(112, 192), (144, 192)],
        'train_dataloader.dataset.pipeline.3.transforms.1.1.crop_size':
        (96, 128),
        'train_dataloader.dataset.pipeline.3.transforms.1.2.scales':
        [(96, 160), (128, 192)],
        'test_dataloader.dataset.pipeline.1.scale': (192, 128),
        'val_dataloader.dataset.pipeline.1.scale': (192, 128),
        'train_dataloader.dataset.ann_file':
        'annotations/instances_train.json',
        'train_dataloader.dataset.data_prefix.img': 'train/',
        'train_dataloader.dataset.metainfo.classes': classes,
        'train_dataloader.dataset.indices': 2,
        'val_dataloader.dataset.ann_file': 'annotations/instances_val.json',
        'val_dataloader.dataset.data_prefix.img': 'val/',
        'val_dataloader.dataset.metainfo.classes': classes,
        'test_dataloader.dataset.ann_file': 'annotations/instances_val.json',
        'test_dataloader.dataset.data_prefix.img': 'val/',
        'test_dataloader.dataset.metainfo.classes': classes,
        'val_evaluator.ann_file': data['coco_val_ann'],
        'test_evaluator.ann_file': data['coco_val_ann'],
        # fewer proposals / RoIs: the 256-channel mask head dominates CPU time
        'model.train_cfg.rpn_proposal.nms_pre': 200,
        'model.train_cfg.rpn_proposal.max_per_img': 100,
        'model.train_cfg.rcnn.sampler.num': 64,
        'model.test_cfg.rpn.nms_pre': 200,
        'model.test_cfg.rpn.max_per_img': 100,
        'model.test_cfg.rcnn.max_per_img': 20,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_begin': 100,  # no validation: tools/test.py evaluates
        'default_hooks.logger.interval': 1,
    })
    for split in ('train', 'val', 'test'):
        opts.update(_loader_options(split, root))
    return opts


def mmseg_options(data: dict, ckpt: Optional[str],
                  multiscale: bool = False) -> dict:
    d = TINY_ARCH['embed_dims']
    crop = (128, 128)
    opts = tiny_backbone_options(ckpt)
    opts.update({
        'model.backbone.img_size': crop,
        'model.backbone.out_indices': [0, 1, 2, 3],
        'model.data_preprocessor.size': crop,
        'train_dataloader.dataset.pipeline.2.scale': (512, 128),
        'train_dataloader.dataset.pipeline.3.crop_size': crop,
        'val_dataloader.dataset.pipeline.1.scale': (512, 128),
        'test_dataloader.dataset.pipeline.1.scale': (512, 128),
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 100,  # tools/test.py evaluates
        'default_hooks.logger.interval': 1,
    })
    if multiscale:
        opts.update({
            'model.neck.0.in_channels': d,
            'model.neck.0.scale_factors': [2.0, 1.0, 0.5, 0.25],
            'model.neck.1.in_channels': [d] * 4,
        })
    else:
        opts['model.neck.in_channels'] = [d] * 4
    for split in ('train', 'val', 'test'):
        opts.update(_loader_options(split, data['root'] + '/ade'))
    return opts


def mmpretrain_options(data: dict, ckpt: Optional[str],
                       linear_probe: bool) -> dict:
    d = TINY_ARCH['embed_dims']
    opts = tiny_backbone_options(ckpt)
    opts.update({
        'model.backbone.img_size': TINY_IMG,
        'model.head.in_channels': d,
        'model.head.num_classes': NUM_CLASSES,
        'data_preprocessor.num_classes': NUM_CLASSES,
        'train_dataloader.dataset.pipeline.1.scale': TINY_IMG,
        'val_dataloader.dataset.pipeline.1.scale': 110,
        'val_dataloader.dataset.pipeline.2.crop_size': TINY_IMG,
        'test_dataloader.dataset.pipeline.1.scale': 110,
        'test_dataloader.dataset.pipeline.2.crop_size': TINY_IMG,
        'train_dataloader.batch_size': 4,
        'train_dataloader.dataset.indices': 8,  # 2 iterations
        'val_dataloader.batch_size': 8,
        'test_dataloader.batch_size': 8,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_begin': 100,  # no validation: tools/test.py evaluates
        'default_hooks.logger.interval': 1,
    })
    if linear_probe:
        opts['model.backbone.frozen_stages'] = TINY_ARCH['num_layers']
        opts['model.neck.input_features'] = d
    for split in ('train', 'val', 'test'):
        opts.update(_loader_options(split, data['root'] + '/cls'))
    return opts


# ------------------------------------------------------------------ CLI
def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        # relative to the work dir (absolute before issue #12)
        return osp.join(work_dir, f.read().strip())


def train_then_test(cli: dict, config: str, work_dir: str,
                    options: Dict[str, object]) -> dict:
    """Train with ``tools/train.py``, evaluate the last checkpoint with
    ``tools/test.py``; returns ``test_metrics.json``'s content."""
    cli['train'].main(
        [config, '--work-dir', work_dir, '--cfg-options', *to_cli(options)])
    ckpt = last_checkpoint(work_dir)
    test_dir = osp.join(work_dir, 'test')
    # Testing needs no pretraining checkpoint: every weight comes from ckpt.
    test_options = {
        k: v
        for k, v in options.items()
        if k != 'model.backbone.init_cfg.checkpoint'
    }
    cli['test'].main([
        config, ckpt, '--work-dir', test_dir, '--cfg-options',
        *to_cli(test_options)
    ])
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        return json.load(f)


def assert_finite_metrics(metrics: dict, keys: Sequence[str]) -> None:
    for key in keys:
        assert key in metrics, f'{key} missing from {sorted(metrics)}'
        value = metrics[key]
        assert isinstance(value, (int, float)) and math.isfinite(value), \
            f'{key}={value!r} is not a finite number'
