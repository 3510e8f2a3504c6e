"""timm-style ViT keys -> mmpretrain VisionTransformer keys."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gtsa_plugin.models.utils.vit_key_mapping import (UnmatchedKeysError,
                                                      map_timm_vit_key,
                                                      timm_vit_to_mmpretrain)

DIMS, DEPTH, HEADS, PATCH, IMG, HIDDEN = 32, 2, 2, 8, 32, 64


def timm_state_dict(seed: int = 0) -> dict:
    """Random weights of a tiny ViT in the timm / reference key layout."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, mean=0.0):
        return mean + 0.2 * torch.randn(*shape, generator=g)

    n = (IMG // PATCH)**2 + 1
    sd = {
        'cls_token': rnd(1, 1, DIMS),
        'pos_embed': rnd(1, n, DIMS),
        'patch_embed.proj.weight': rnd(DIMS, 3, PATCH, PATCH),
        'patch_embed.proj.bias': rnd(DIMS),
    }
    for i in range(DEPTH):
        b = f'blocks.{i}.'
        sd.update({
            b + 'norm1.weight': rnd(DIMS, mean=1.0),
            b + 'norm1.bias': rnd(DIMS),
            b + 'attn.qkv.weight': rnd(3 * DIMS, DIMS),
            b + 'attn.qkv.bias': rnd(3 * DIMS),
            b + 'attn.proj.weight': rnd(DIMS, DIMS),
            b + 'attn.proj.bias': rnd(DIMS),
            b + 'norm2.weight': rnd(DIMS, mean=1.0),
            b + 'norm2.bias': rnd(DIMS),
            b + 'mlp.fc1.weight': rnd(HIDDEN, DIMS),
            b + 'mlp.fc1.bias': rnd(HIDDEN),
            b + 'mlp.fc2.weight': rnd(DIMS, HIDDEN),
            b + 'mlp.fc2.bias': rnd(DIMS),
        })
    sd['norm.weight'] = rnd(DIMS, mean=1.0)
    sd['norm.bias'] = rnd(DIMS)
    return sd


def timm_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """The reference ViT's forward (pre-norm blocks, fused qkv, final norm),
    written from the timm layout alone: all tokens after the final norm."""
    ln = lambda t, name: F.layer_norm(  # noqa: E731
        t, (DIMS, ), sd[name + '.weight'], sd[name + '.bias'], 1e-6)
    lin = lambda t, name: F.linear(  # noqa: E731
        t, sd[name + '.weight'], sd[name + '.bias'])
    t = F.conv2d(x, sd['patch_embed.proj.weight'],
                 sd['patch_embed.proj.bias'], stride=PATCH)
    t = t.flatten(2).transpose(1, 2)
    b = t.shape[0]
    t = torch.cat([sd['cls_token'].expand(b, -1, -1), t], 1) + sd['pos_embed']
    n = t.shape[1]
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        qkv = lin(ln(t, p + 'norm1'), p + 'attn.qkv').reshape(
            b, n, 3, HEADS, DIMS // HEADS).permute(2, 0, 3, 1, 4)
        attn = (qkv[0] @ qkv[1].transpose(-2, -1) *
                (DIMS // HEADS)**-0.5).softmax(-1)
        y = (attn @ qkv[2]).transpose(1, 2).reshape(b, n, DIMS)
        t = t + lin(y, p + 'attn.proj')
        t = t + lin(F.gelu(lin(ln(t, p + 'norm2'), p + 'mlp.fc1')),
                    p + 'mlp.fc2')
    return ln(t, 'norm')


def test_each_rule():
    expected = {
        'cls_token': 'cls_token',
        'pos_embed': 'pos_embed',
        'patch_embed.proj.weight': 'patch_embed.projection.weight',
        'blocks.11.norm1.bias': 'layers.11.ln1.bias',
        'blocks.0.attn.qkv.weight': 'layers.0.attn.qkv.weight',
        'blocks.3.attn.proj.bias': 'layers.3.attn.proj.bias',
        'blocks.2.norm2.weight': 'layers.2.ln2.weight',
        'blocks.5.mlp.fc1.weight': 'layers.5.ffn.layers.0.0.weight',
        'blocks.5.mlp.fc2.bias': 'layers.5.ffn.layers.1.bias',
        'norm.weight': 'ln1.weight',
        'fc_norm.bias': 'ln2.bias',
    }
    for timm_key, mm_key in expected.items():
        assert map_timm_vit_key(timm_key) == mm_key
    for other in ('head.weight', 'module.cls_token', 'blocks.0.norm1.gamma',
                  'dist_token', 'norm.weight.extra'):
        assert map_timm_vit_key(other) is None


def test_keys_load_strictly_and_compute_the_same_function():
    from mmpretrain.models import VisionTransformer
    sd = timm_state_dict()
    vit = VisionTransformer(
        arch=dict(embed_dims=DIMS, num_layers=DEPTH, num_heads=HEADS,
                  feedforward_channels=HIDDEN),
        img_size=IMG, patch_size=PATCH, qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
        with_cls_token=True, out_type='raw')
    mapped = timm_vit_to_mmpretrain(sd)
    vit.load_state_dict(mapped, strict=True)
    assert mapped['layers.1.attn.qkv.weight'] is sd['blocks.1.attn.qkv.weight']
    vit.eval()
    x = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = vit(x)[-1]
        ref = timm_forward(sd, x)
    # Swapping e.g. norm1/norm2 keeps all shapes; only values catch it.
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_unmatched_keys():
    sd = dict(timm_state_dict(), **{'head.weight': torch.zeros(3, DIMS)})
    with pytest.raises(UnmatchedKeysError, match='head.weight'):
        timm_vit_to_mmpretrain(sd)
    assert 'head.weight' not in timm_vit_to_mmpretrain(sd, unmatched='drop')
    assert 'head.weight' in timm_vit_to_mmpretrain(sd, unmatched='keep')
    with pytest.raises(ValueError):
        timm_vit_to_mmpretrain(sd, unmatched='ignore')


def test_two_keys_onto_one_are_refused():
    sd = {'norm.weight': torch.ones(2), 'ln1.weight': torch.ones(2)}
    with pytest.raises(ValueError, match='both map'):
        timm_vit_to_mmpretrain(sd, unmatched='keep')
