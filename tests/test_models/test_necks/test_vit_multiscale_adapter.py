"""ViTMultiScaleAdapter: same-stride ViT maps -> strides 4/8/16/32."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gtsa_plugin.models.necks import ViTMultiScaleAdapter


def _vit_maps(img_hw, patch, channels=384, batch=2, n=4):
    """Stand-ins for a ViT's ``out_type='featmap'`` outputs."""
    h, w = img_hw[0] // patch, img_hw[1] // patch
    return [torch.rand(batch, channels, h, w) for _ in range(n)]


def test_default_gives_strides_4_8_16_32_for_patch_16():
    img_hw = (224, 320)
    neck = ViTMultiScaleAdapter(in_channels=384)
    outs = neck(_vit_maps(img_hw, patch=16))
    assert isinstance(outs, tuple) and len(outs) == 4
    strides = [img_hw[0] // o.shape[2] for o in outs]
    assert strides == [4, 8, 16, 32]
    assert [img_hw[1] // o.shape[3] for o in outs] == [4, 8, 16, 32]
    assert [tuple(o.shape) for o in outs] == [(2, 384, 56, 80),
                                              (2, 384, 28, 40),
                                              (2, 384, 14, 20),
                                              (2, 384, 7, 10)]
    assert neck.out_channels == [384] * 4


def test_patch_8_factors_give_the_same_strides():
    img_hw = (128, 192)
    neck = ViTMultiScaleAdapter(in_channels=96,
                                scale_factors=(2.0, 1.0, 0.5, 0.25))
    outs = neck(_vit_maps(img_hw, patch=8, channels=96))
    assert [img_hw[0] // o.shape[2] for o in outs] == [4, 8, 16, 32]
    assert all(o.shape[1] == 96 for o in outs)


def test_per_level_channels_are_kept():
    neck = ViTMultiScaleAdapter(in_channels=[8, 16, 24, 32])
    feats = [torch.rand(1, c, 6, 6) for c in (8, 16, 24, 32)]
    outs = neck(feats)
    assert [o.shape[1] for o in outs] == [8, 16, 24, 32]
    assert [o.shape[2] for o in outs] == [24, 12, 6, 3]


def test_branches_are_the_reference_ops():
    neck = ViTMultiScaleAdapter(in_channels=16, norm_cfg=dict(type='BN'))
    up4, up2, same, down2 = neck.branches
    # x4: deconv -> norm -> GELU -> deconv
    assert [type(m) for m in up4] == [nn.ConvTranspose2d, nn.BatchNorm2d,
                                      nn.GELU, nn.ConvTranspose2d]
    assert all(m.kernel_size == (2, 2) and m.stride == (2, 2)
               for m in (up4[0], up4[3], up2))
    assert isinstance(same, nn.Identity)
    assert isinstance(down2, nn.MaxPool2d)

    feats = [torch.randn(2, 16, 8, 8) for _ in range(4)]
    outs = neck(feats)
    assert torch.equal(outs[2], feats[2])
    assert torch.equal(outs[3], F.max_pool2d(feats[3], 2, 2))
    # every learnable branch receives gradients
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in neck.parameters())


def test_registered_in_mmdet_and_mmseg():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for registry, scope in ((DET_MODELS, 'mmdet'), (SEG_MODELS, 'mmseg')):
        assert registry.module_dict['ViTMultiScaleAdapter'] is \
            ViTMultiScaleAdapter
        neck = registry.build(
            dict(type='ViTMultiScaleAdapter', in_channels=8, _scope_=scope))
        assert isinstance(neck, ViTMultiScaleAdapter)


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels=8, scale_factors=(3.0, )), 'unsupported scale'),
    (dict(in_channels=[8, 8], scale_factors=(2.0, 1.0, 0.5)),
     'same length'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViTMultiScaleAdapter(**kwargs)


def test_wrong_number_of_maps():
    neck = ViTMultiScaleAdapter(in_channels=8)
    with pytest.raises(ValueError, match='out_indices'):
        neck([torch.rand(1, 8, 4, 4)] * 3)
