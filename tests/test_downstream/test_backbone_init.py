"""Every downstream config takes its backbone from
``model.backbone.init_cfg.checkpoint`` -- checked on the model the config
builds, after the ``init_weights()`` call mmengine's Runner makes."""

import pytest
import torch
from downstream_helpers import (TINY_PATCH, config_path, load_tool,
                                mmdet_options, mmpretrain_options,
                                mmseg_options, save_pretrain_checkpoint,
                                tiny_vit, to_cli)
from mmengine.registry import MODELS, init_default_scope
from mmpretrain.models.utils import resize_pos_embed

from gtsa_plugin.apis.cli import load_config, register_toolkit
from gtsa_plugin.models.utils.pretrained_init import BackboneKeysError

NAMES = ['mask_rcnn', 'semfpn', 'semfpn_multiscale', 'linear_probe',
         'finetune']
TEACHER, STUDENT = 'target_net.module.0.', 'backbone.'


def _options(name: str, data: dict, ckpt) -> dict:
    if name == 'mask_rcnn':
        return mmdet_options(data, ckpt)
    if name.startswith('semfpn'):
        return mmseg_options(data, ckpt, multiscale=name.endswith('scale'))
    return mmpretrain_options(data, ckpt, linear_probe=name == 'linear_probe')


def build_initialised_model(name: str, options: dict) -> torch.nn.Module:
    """The config's model with ``options``, after ``init_weights()``."""
    cfg = load_config(config_path(name), cfg_options=options)
    scope = register_toolkit(cfg)
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _part(ckpt: str, prefix: str) -> dict:
    sd = torch.load(ckpt)['state_dict']
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def assert_backbone_equals(backbone: torch.nn.Module, expected: dict) -> None:
    """Every backbone tensor equals ``expected`` (pos_embed after the
    bicubic resize to the backbone's grid); keys the pretraining ViT has
    but the backbone does not are only the final norm ``ln1``; keys the
    backbone has but the file does not are only the downstream ``ln2``."""
    actual = backbone.state_dict()
    assert set(expected) - set(actual) <= {'ln1.weight', 'ln1.bias'}
    assert set(actual) - set(expected) <= {'ln2.weight', 'ln2.bias'}
    for key in set(actual) & set(expected):
        value = expected[key]
        if key == 'pos_embed' and value.shape != actual[key].shape:
            src = int((value.shape[1] - 1)**0.5)
            value = resize_pos_embed(value, (src, src),
                                     backbone.patch_resolution, 'bicubic', 1)
        assert torch.equal(actual[key], value), key


@pytest.mark.parametrize('name', NAMES)
def test_backbone_is_the_pretrained_teacher(name, two_source_ckpt,
                                            synthetic_data):
    model = build_initialised_model(
        name, _options(name, synthetic_data, two_source_ckpt))
    assert_backbone_equals(model.backbone, _part(two_source_ckpt, TEACHER))
    student = _part(two_source_ckpt, STUDENT)
    assert not torch.equal(model.backbone.cls_token, student['cls_token'])
    if name.startswith('semfpn'):  # img_size 128 vs 96 in pretraining
        assert model.backbone.pos_embed.shape[1] == (128 // TINY_PATCH)**2 + 1


@pytest.mark.parametrize('name', NAMES)
def test_backbone_is_the_student_on_request(name, two_source_ckpt,
                                            synthetic_data):
    options = _options(name, synthetic_data, two_source_ckpt)
    options['model.backbone.init_cfg.source'] = 'student'
    model = build_initialised_model(name, options)
    assert_backbone_equals(model.backbone, _part(two_source_ckpt, STUDENT))


@pytest.mark.parametrize('name', ['mask_rcnn', 'finetune'])
def test_backbone_follows_the_checkpoint(name, two_source_ckpt, synthetic_data,
                                         tmp_path):
    other = save_pretrain_checkpoint(
        str(tmp_path / 'other.pth'), tiny_vit(2), tiny_vit(3))
    first = build_initialised_model(
        name, _options(name, synthetic_data, two_source_ckpt))
    second = build_initialised_model(
        name, _options(name, synthetic_data, other))
    assert_backbone_equals(second.backbone, _part(other, TEACHER))
    assert not torch.equal(first.backbone.layers[0].attn.qkv.weight,
                           second.backbone.layers[0].attn.qkv.weight)


@pytest.mark.parametrize('name', ['mask_rcnn', 'semfpn', 'finetune'])
def test_missing_backbone_keys_are_an_error(name, two_source_ckpt,
                                            synthetic_data, tmp_path):
    ckpt = torch.load(two_source_ckpt)
    del ckpt['state_dict'][TEACHER + 'layers.1.attn.qkv.weight']
    del ckpt['state_dict'][TEACHER + 'pos_embed']
    broken = str(tmp_path / 'broken.pth')
    torch.save(ckpt, broken)
    with pytest.raises(BackboneKeysError) as err:
        build_initialised_model(name,
                                _options(name, synthetic_data, broken))
    message = str(err.value)
    assert broken in message
    assert 'layers.1.attn.qkv.weight' in message and 'pos_embed' in message


def test_unset_checkpoint_names_the_config_key(synthetic_data, tmp_path):
    # Through tools/train.py, as a user who forgot the option would see it.
    options = mmpretrain_options(synthetic_data, None, linear_probe=False)
    with pytest.raises(ValueError,
                       match=r'model\.backbone\.init_cfg\.checkpoint'):
        load_tool('tools/train.py').main([
            config_path('finetune'), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', *to_cli(options)
        ])


@pytest.mark.parametrize('source', ['teacher', 'student'])
def test_extracted_backbone_file_as_checkpoint(source, two_source_ckpt,
                                               synthetic_data, tmp_path):
    out = str(tmp_path / f'{source}.pth')
    load_tool('tools/model_converters/extract_backbone.py').main(
        [two_source_ckpt, out, '--source', source])
    model = build_initialised_model(
        'mask_rcnn', _options('mask_rcnn', synthetic_data, out))
    prefix = TEACHER if source == 'teacher' else STUDENT
    assert_backbone_equals(model.backbone, _part(two_source_ckpt, prefix))
