"""The ViT-B/16 downstream configs: the ViT-S recipes with ViT-B widths.

Each loads as ViT-B/16 with every width that reads the backbone at 768,
differs from its ViT-S config only there, and trains with tools/train.py
from a real pretraining checkpoint (the tiny ViT, 12 heads kept)."""
import os.path as osp

import pytest
import torch
from downstream_helpers import (CONFIG_DIR, last_checkpoint, mmdet_options,
                                mmpretrain_options, mmseg_options, to_cli)
from mmengine.config import Config
from repo_helpers import arch_fields

VIT_B = dict(embed_dims=768, num_layers=12, num_heads=12,
             feedforward_channels=3072)
PAIRS = {  # ViT-B config -> its ViT-S config
    'mmdet/mask-rcnn_vit-b_fpn_1x_coco.py':
    'mmdet/mask-rcnn_vit-s_fpn_1x_coco.py',
    'mmseg/semfpn_vit-b_40k_ade20k.py': 'mmseg/semfpn_vit-s_40k_ade20k.py',
}
for _task in ('finetune_8xb128-300e', 'linear-probe_8xb512-90e'):
    for _data in ('inat2019', 'imagenet-folder'):
        PAIRS[f'mmpretrain/vit-b-p16_{_task}_{_data}.py'] = \
            f'mmpretrain/vit-s-p16_{_task}_{_data}.py'


def _load(rel: str) -> Config:
    from gtsa_plugin.patches.mmengine_config import \
        install_external_config_resolution
    install_external_config_resolution()  # 'mmdet::' / 'mmseg::' bases
    return Config.fromfile(osp.join(CONFIG_DIR, rel))


def _widths(model: dict) -> dict:
    """Every config entry that must equal the backbone width."""
    out = {'arch': arch_fields(model['backbone']['arch'])}
    neck = model.get('neck')
    for i, n in enumerate(neck if isinstance(neck, list) else [neck]):
        if n and 'in_channels' in n:
            out[f'neck{i}'] = n['in_channels']
        if n and 'input_features' in n:
            out[f'neck{i}'] = n['input_features']
    head = model.get('head')
    if head and 'in_channels' in head:
        out['head'] = head['in_channels']
    return out


@pytest.mark.parametrize('vit_b,vit_s', sorted(PAIRS.items()))
def test_vit_b_config_is_its_vit_s_recipe_at_768(vit_b, vit_s):
    big, small = _load(vit_b), _load(vit_s)
    assert arch_fields(big.model.backbone.arch) == VIT_B
    widths = _widths(big.model)
    for key, value in widths.items():
        if key != 'arch':
            assert value in (768, [768] * 4), (key, value)
    # Everything else is the ViT-S recipe (schedule, data, heads, init).
    big_dict, small_dict = big.to_dict(), small.to_dict()
    for cfg in (big_dict, small_dict):
        cfg['model']['backbone'].pop('arch')
        for key in ('neck', 'head'):
            part = cfg['model'].get(key)
            for n in part if isinstance(part, list) else [part]:
                if isinstance(n, dict):
                    n.pop('in_channels', None)
                    n.pop('input_features', None)
        cfg.pop('embed_dims')
    assert big_dict == small_dict


def _train(cli, rel: str, work_dir: str, options: dict) -> dict:
    options = dict(options, **{'model.backbone.arch.num_heads': 12})
    cli['train'].main([osp.join(CONFIG_DIR, rel), '--work-dir', work_dir,
                       '--cfg-options', *to_cli(options)])
    return torch.load(last_checkpoint(work_dir), weights_only=False)


@pytest.mark.slow
@pytest.mark.parametrize('rel', [
    'mmdet/mask-rcnn_vit-b_fpn_1x_coco.py',
    'mmseg/semfpn_vit-b_40k_ade20k.py',
    'mmpretrain/vit-b-p16_finetune_8xb128-300e_imagenet-folder.py',
    'mmpretrain/vit-b-p16_linear-probe_8xb512-90e_imagenet-folder.py',
])
def test_vit_b_config_trains(cli, pretrain_ckpt, synthetic_data, tmp_path,
                             rel):
    if rel.startswith('mmdet'):
        options = mmdet_options(synthetic_data, pretrain_ckpt)
        options['train_dataloader.dataset.indices'] = 1
    elif rel.startswith('mmseg'):
        options = mmseg_options(synthetic_data, pretrain_ckpt)
        options['train_cfg.max_iters'] = 1
    else:
        options = mmpretrain_options(synthetic_data, pretrain_ckpt,
                                     linear_probe='linear' in rel)
        options['train_dataloader.dataset.indices'] = 4  # one batch of 4
    ckpt = _train(cli, rel, str(tmp_path / 'work'), options)
    state = ckpt['state_dict']
    assert state['backbone.layers.0.attn.qkv.weight'].shape == (288, 96)
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())
    assert ckpt['meta']['iter'] == 1


@pytest.mark.parametrize('rel', sorted(PAIRS) + sorted(PAIRS.values()))
def test_position_embedding_rule_follows_the_reference(rel):
    """Detection resizes per input with the "+0.1" rule (the reference's
    vit_timm.py); segmentation and classification resize once on loading
    with size= (mmseg's ViT, MAE's interpolate_pos_embed)."""
    kind = _load(rel).model.backbone.type.split('.')[-1]
    want = 'DINOVisionTransformer' if rel.startswith('mmdet') \
        else 'VisionTransformer'
    assert kind == want
