"""``--cfg-options model.backbone.arch.FIELD=V`` keeps working now that the
configs name their ViT (``arch='deit-small'``) as mmpretrain's configs do
(#16); mmengine alone raises TypeError merging a field into a string."""
from __future__ import annotations

import pytest
import repo_helpers as rp
from mmengine.config import Config

from gtsa_plugin.apis.arch_options import expand_named_archs
from gtsa_plugin.apis.cli import load_config

VIT_S = 'configs/gtsa_vit-s_coco.py'
MASK_RCNN = 'configs/downstream/mmdet/mask-rcnn_vit-s_fpn_1x_coco.py'


def _path(rel: str) -> str:
    return f'{rp.REPO_ROOT}/{rel}'


def test_configs_name_the_arch_and_plain_mmengine_cannot_edit_it():
    cfg = Config.fromfile(_path(VIT_S))
    assert cfg.model.backbone.arch == 'deit-small'
    with pytest.raises(TypeError):
        cfg.merge_from_dict({'model.backbone.arch.num_layers': 6})


def test_one_field_edits_the_named_entry():
    cfg = load_config(_path(VIT_S), {'model.backbone.arch.num_layers': 6})
    # DeiT-S (Touvron et al. 2021, Table 1): 384 dims, 6 heads, MLP 4 x 384
    assert dict(cfg.model.backbone.arch) == dict(
        embed_dims=384, num_layers=6, num_heads=6, feedforward_channels=1536)
    from mmpretrain.registry import MODELS
    backbone = MODELS.build(cfg.model.backbone)
    assert len(backbone.layers) == 6 and backbone.embed_dims == 384


def test_without_field_options_the_name_stays():
    cfg = load_config(_path(VIT_S), {'model.backbone.drop_path_rate': 0.0})
    assert cfg.model.backbone.arch == 'deit-small'


def test_rename_and_edit_in_one_command():
    # in an mmdet config: the backbone type carries the 'mmpretrain.' scope
    cfg = load_config(_path(MASK_RCNN), {
        'model.backbone.arch': 'deit-tiny',
        'model.backbone.arch.num_layers': 2})
    # DeiT-Ti: 192 dims, 3 heads, MLP 4 x 192
    assert dict(cfg.model.backbone.arch) == dict(
        embed_dims=192, num_layers=2, num_heads=3, feedforward_channels=768)


def test_a_dict_arch_is_edited_as_before():
    cfg = load_config(rp.GTSA_DEMO, {'model.backbone.arch.num_layers': 2})
    assert dict(cfg.model.backbone.arch) == dict(
        embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=384)


def test_unknown_name_names_the_option():
    cfg = Config.fromfile(_path(VIT_S))
    with pytest.raises(KeyError) as info:
        expand_named_archs(cfg, {'model.backbone.arch': 'deit-huge',
                                 'model.backbone.arch.num_layers': 2})
    message = str(info.value)
    assert 'model.backbone.arch.num_layers' in message
    assert "'deit-huge'" in message and "'deit-small'" in message


def test_misspelt_field_is_refused():
    # mmpretrain ignores unknown arch keys: the typo would train 12 layers
    with pytest.raises(KeyError) as info:
        load_config(_path(VIT_S), {'model.backbone.arch.num_layer': 2})
    message = str(info.value)
    assert "'num_layer'" in message and "'num_layers'" in message
    with pytest.raises(KeyError, match='num_layer'):
        load_config(rp.GTSA_DEMO, {'model.backbone.arch.num_layer': 2})


def test_type_changed_in_the_same_command():
    cfg = load_config(_path(VIT_S), {
        'model.backbone.type': 'SwinTransformer',
        'model.backbone.arch': 'tiny',
        'model.backbone.arch.depths': [1, 1, 1, 1]})
    # Swin-T (Liu et al. 2021): C = 96, heads 3/6/12/24
    assert dict(cfg.model.backbone.arch) == dict(
        embed_dims=96, depths=[1, 1, 1, 1], num_heads=[3, 6, 12, 24])
