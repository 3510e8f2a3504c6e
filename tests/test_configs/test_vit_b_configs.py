"""The ViT-B/16 configs: real sizes and recipes as loaded, one CPU training
iteration each with the widths shrunk (12 heads kept) through
``--cfg-options``, and the real ViT-B/16 built once for its size."""
from __future__ import annotations

import os.path as osp

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch
from mmengine.config import Config

VIT_B = dict(embed_dims=768, num_layers=12, num_heads=12,
             feedforward_channels=3072)
PRETRAIN = ['gtsa_vit-b_coco.py', 'gtsa_vit-b_ade20k.py',
            'dino_vit-b_coco.py', 'dino_vit-b_ade20k.py']


def _cfg(name: str) -> Config:
    return Config.fromfile(osp.join(rp.REPO_ROOT, 'configs', name))


@pytest.mark.parametrize('name', PRETRAIN)
def test_pretraining_configs_are_vit_b(name):
    cfg = _cfg(name)
    model = cfg.model
    assert model.backbone.type == 'DINOVisionTransformer'
    assert model.backbone.arch == 'deit-base'  # mmpretrain's name
    assert rp.arch_fields(model.backbone.arch) == VIT_B
    assert (model.backbone.patch_size, model.backbone.drop_path_rate) == \
        (16, 0.1)
    assert model.neck.in_channels == 768
    if name.startswith('gtsa'):
        # The reference's gtsa_base with main_pretrain.py's defaults.
        assert (model.neck.hid_channels, model.neck.out_channels) == \
            (384, 768)
        assert model.head.predictor.in_channels == 768
        assert model.rot_head.in_channels == 768
        assert model.rot_head.init_cfg is None
        assert cfg.optim_wrapper.clip_grad.max_norm == 3.0
        assert cfg.optim_wrapper.type == 'PerParamClipAmpOptimWrapper'
    else:
        # facebookresearch/dino's ViT-B/16 args.
        assert model.neck.norm_last_layer is True
        assert model.freeze_last_layer == 3
        assert (model.head.warmup_teacher_temp, model.head.teacher_temp,
                model.head.warmup_teacher_temp_epochs) == (0.04, 0.07, 50)
        assert cfg.optim_wrapper.type == 'PerParamClipOptimWrapper'  # fp32
        assert cfg.optim_wrapper.clip_grad.max_norm == 0.3
        assert cfg.train_dataloader.batch_size == 32
        lr = cfg.optim_wrapper.optimizer.lr
        assert lr * 256 / cfg.auto_scale_lr.base_batch_size == \
            pytest.approx(7.5e-4)
        assert cfg.param_scheduler[1].eta_min == 2e-6
    assert cfg.train_cfg.max_epochs == 100


def test_real_vit_b_size_and_keys():
    """ViT-B/16: 85.8M backbone parameters (timm's vit_base_patch16_224
    without its classifier), and the same keys as ViT-S/16."""
    from mmpretrain.registry import MODELS
    backbone = MODELS.build(_cfg('gtsa_vit-b_coco.py').model.backbone)
    assert sum(p.numel() for p in backbone.parameters()) == 85_798_656
    small = MODELS.build(_cfg('gtsa_vit-s_coco.py').model.backbone)
    assert set(backbone.state_dict()) == set(small.state_dict())


def _tiny(kind: str) -> dict:
    """Widths shrunk, 12 heads and the narrower projector kept."""
    opts = {
        'model.backbone.arch.embed_dims': 96,
        'model.backbone.arch.num_layers': 2,
        'model.backbone.arch.feedforward_channels': 384,
        'model.backbone.img_size': 96,
        'model.backbone.patch_size': 8,
        'model.neck.in_channels': 96,
        'train_dataloader.dataset.pipeline.1.crop_sizes': '(96,48)',
        'train_dataloader.dataset.pipeline.1.size_divisor': 8,
        'train_dataloader.dataset.pipeline.1.num_crops': '(2,2)',
        'auto_scale_lr.enable': False,
    }
    if kind == 'gtsa':
        opts.update({
            'model.neck.hid_channels': 48,
            'model.neck.out_channels': 64,
            'model.head.predictor.in_channels': 64,
            'model.head.predictor.hid_channels': 64,
            'model.head.predictor.out_channels': 64,
            'model.head.feat_stride': 8,
            'model.rot_head.in_channels': 96,
            'model.rot_head.hid_channels': 64,
            'model.rot_head.bottleneck_channels': 16,
            'model.pc_warmup_epochs': 0,
        })
    else:
        opts.update({
            'model.neck.hid_channels': 128,
            'model.neck.bottleneck_channels': 32,
            'model.neck.out_channels': 256,
            'model.head.out_channels': 256,
        })
    return opts


@pytest.mark.slow
@pytest.mark.parametrize('name', PRETRAIN)
def test_pretraining_config_trains_one_iteration(name, synthetic_scenes,
                                                 tmp_path):
    kind = name.split('_')[0]
    config = osp.join(rp.REPO_ROOT, 'configs', name)
    if kind == 'gtsa':  # fp16 needs a GPU: the same wrapper without AMP
        config = pr.write_config(
            str(tmp_path / 'cpu.py'), config,
            "optim_wrapper = dict(type='PerParamClipOptimWrapper', "
            "_delete_=True, optimizer=dict(type='AdamW', lr=1e-3, "
            "weight_decay=0.04), clip_grad=dict(max_norm=3.0), "
            "constructor='FrozenModuleOptimWrapperConstructor', "
            "paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))")
    data = im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path / 'data'), 2)
    work_dir = tmp_path / 'work'
    with ip.pretrain_scope():
        ip.train_in_process(config, str(work_dir), pr.tiny_options(
            data, batch_size=2, **_tiny(kind)))
    ckpt = torch.load(work_dir / 'epoch_1.pth', weights_only=False,
                      map_location='cpu')
    state = ckpt['state_dict']
    assert state['backbone.layers.0.attn.qkv.weight'].shape == (288, 96)
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())
    assert ckpt['meta']['iter'] == 1
