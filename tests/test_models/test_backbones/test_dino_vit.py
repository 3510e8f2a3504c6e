"""DINOVisionTransformer: facebookresearch/dino's position-embedding resizing
and initialisation on mmpretrain's ViT."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from gtsa_plugin.models.backbones import DINOVisionTransformer
from gtsa_plugin.models.utils import resize_pos_embed_offset

A = -0.75  # PyTorch's bicubic coefficient


def cubic_weight(x: float) -> float:
    """Keys' cubic convolution kernel with a = -0.75."""
    x = abs(x)
    if x <= 1:
        return (A + 2) * x**3 - (A + 3) * x**2 + 1
    if x < 2:
        return A * x**3 - 5 * A * x**2 + 8 * A * x - 4 * A
    return 0.0


def cubic_1d(values, src: float) -> float:
    """Sample ``values`` at ``src`` (taps ``floor(src)-1 .. +2``, indices
    clamped to the border, as PyTorch's upsample_bicubic2d)."""
    base = math.floor(src)
    t = src - base
    n = len(values)
    return sum(values[min(max(base + k, 0), n - 1)] * cubic_weight(t - k)
               for k in (-1, 0, 1, 2))


def expected_offset_resize(grid, dst_h, dst_w, offset=0.1):
    """Hand-written bicubic resize of a 2-D list ``grid`` (h x w) with the
    reference's scale factors ``(dst + offset) / src`` and
    ``align_corners=False``: output ``j`` samples ``(j + 0.5) / s - 0.5``."""
    h, w = len(grid), len(grid[0])
    s_h, s_w = (dst_h + offset) / h, (dst_w + offset) / w
    src_y = [(i + 0.5) / s_h - 0.5 for i in range(dst_h)]
    src_x = [(j + 0.5) / s_w - 0.5 for j in range(dst_w)]
    rows = [[cubic_1d(row, x) for x in src_x] for row in grid]  # h x W
    cols = list(zip(*rows))  # W x h
    return [[cubic_1d(cols[j], y) for j in range(dst_w)] for y in src_y]


def as_pos_embed(grid, cls_value=7.0):
    """A 2-D list -> ``(1, 1 + h * w, 1)`` with a class token in front."""
    flat = [v for row in grid for v in row]
    return torch.tensor([cls_value] + flat, dtype=torch.float32).view(
        1, -1, 1)


@pytest.mark.parametrize('src,dst', [((3, 3), (2, 2)), ((2, 2), (3, 3)),
                                     ((4, 4), (2, 3)), ((3, 4), (5, 2))])
def test_offset_rule_matches_hand_worked_bicubic(src, dst):
    g = torch.Generator().manual_seed(sum(src) * 10 + sum(dst))
    grid = torch.randn(*src, generator=g).tolist()
    out = resize_pos_embed_offset(as_pos_embed(grid), src, dst)
    want = expected_offset_resize(grid, *dst)
    assert out.shape == (1, 1 + dst[0] * dst[1], 1)
    assert float(out[0, 0, 0]) == 7.0  # class token untouched
    got = out[0, 1:, 0].view(*dst)
    torch.testing.assert_close(got, torch.tensor(want), atol=1e-5, rtol=0)
    # ...and it is not the size= rule (sources (j + 0.5) * h / H - 0.5).
    sized = resize_pos_embed(as_pos_embed(grid), src, dst, 'bicubic', 1)
    assert (sized[0, 1:, 0].view(*dst) - got).abs().max() > 1e-3


def test_offset_rule_source_coordinates_for_3x3_to_2x2():
    """Scale factor 2.1 / 3 = 0.7: output 0 samples the source at
    0.5 / 0.7 - 0.5 = 0.2142857, output 1 at 1.5 / 0.7 - 0.5 = 1.6428571
    (size=(2, 2) would sample 0.25 and 1.75). A grid that is constant
    along rows and equals 0, 0, 1 down the columns isolates one axis."""
    grid = [[0.0] * 3, [0.0] * 3, [1.0] * 3]
    out = resize_pos_embed_offset(as_pos_embed(grid), (3, 3), (2, 2))
    col = out[0, 1:, 0].view(2, 2)[:, 0]
    # y = 0.2142857: taps rows -1..2 (clamped 0, 0, 1, 2), t = 0.2142857;
    # only row 2 is non-zero, with weight W(2 - t) = W(1.7857143), where
    # W(x) = a (x - 1)(x - 2)^2 on [1, 2]: -0.75 * 0.7857 * 0.2143^2.
    t0 = 0.5 / 0.7 - 0.5
    w0 = A * (2 - t0)**3 - 5 * A * (2 - t0)**2 + 8 * A * (2 - t0) - 4 * A
    # y = 1.6428571: taps rows 0..3 (3 clamped to 2), t = 0.6428571;
    # rows 2 and 3 (= row 2) are 1: W(1 - t) + W(2 - t) with
    # W(0.3571) = 1.25 x^3 - 2.25 x^2 + 1 = 0.76995 and
    # W(1.3571) = -0.75 * 0.3571 * 0.6429^2 = -0.11070.
    t1 = 1.5 / 0.7 - 0.5 - 1
    w1 = ((A + 2) * (1 - t1)**3 - (A + 3) * (1 - t1)**2 + 1) + \
        (A * (2 - t1)**3 - 5 * A * (2 - t1)**2 + 8 * A * (2 - t1) - 4 * A)
    torch.testing.assert_close(col, torch.tensor([w0, w1]), atol=1e-6,
                               rtol=0)
    assert abs(w0 - (-0.0270590)) < 1e-6 and abs(w1 - 0.6592566) < 1e-6


def test_offset_rule_keeps_row_major_layout():
    """Rows are resized by (H + 0.1) / h, columns by (W + 0.1) / w: on a
    grid that varies only along columns, every output row is the same
    1-D resize of that column profile."""
    profile = [0.0, 1.0, 4.0, 9.0]
    grid = [profile for _ in range(2)]
    out = resize_pos_embed_offset(as_pos_embed(grid), (2, 4), (5, 3))
    got = out[0, 1:, 0].view(5, 3)
    s_w = (3 + 0.1) / 4
    want = [cubic_1d(profile, (j + 0.5) / s_w - 0.5) for j in range(3)]
    for row in got:
        torch.testing.assert_close(row, torch.tensor(want), atol=1e-5,
                                   rtol=0)


def test_same_grid_returns_the_parameter_itself():
    pe = torch.randn(1, 17, 4)
    assert resize_pos_embed_offset(pe, (4, 4), (4, 4)) is pe
    with pytest.raises(ValueError, match='4x5'):
        resize_pos_embed_offset(pe, (4, 5), (2, 2))


ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _pair(out_type='featmap', img_size=32):
    """Ours and mmpretrain's ViT with identical weights, in eval mode."""
    torch.manual_seed(0)
    cfg = dict(arch=ARCH, img_size=img_size, patch_size=8, out_type=out_type,
               out_indices=(0, 1), drop_path_rate=0.1)
    ours = DINOVisionTransformer(**cfg)
    ours.init_weights()
    theirs = VisionTransformer(**cfg)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval()
    theirs.eval()
    return ours, theirs


@pytest.mark.parametrize('out_type', ['featmap', 'cls_token', 'raw'])
def test_pretraining_grid_is_bit_equal_to_mmpretrain(out_type):
    ours, theirs = _pair(out_type)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x)):
            assert torch.equal(a, b)


def test_other_grid_uses_the_offset_rule():
    ours, theirs = _pair()
    x = torch.randn(2, 3, 16, 16)  # 2 x 2 tokens instead of 4 x 4
    # mmpretrain's ViT built for the 2 x 2 grid, fed the embedding that the
    # offset rule gives, sees no resizing at all: it must match ours.
    small = VisionTransformer(arch=ARCH, img_size=16, patch_size=8,
                              out_type='featmap', out_indices=(0, 1))
    small.eval()
    state = theirs.state_dict()
    state['pos_embed'] = resize_pos_embed_offset(state['pos_embed'], (4, 4),
                                                 (2, 2))
    small.load_state_dict(state, strict=True)
    with torch.no_grad():
        mine, ref, sized = ours(x), small(x), theirs(x)
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert (mine[-1] - sized[-1]).abs().max() > 1e-4  # the size= rule


def _linear_and_ln(module):
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in module.modules() if isinstance(m, nn.LayerNorm)]
    return linears, norms


def test_reference_initialisation_statistics():
    torch.manual_seed(0)
    arch = dict(embed_dims=256, num_layers=2, num_heads=4,
                feedforward_channels=1024)
    vit = DINOVisionTransformer(arch=arch, img_size=64, patch_size=16)
    vit.init_weights()
    linears, norms = _linear_and_ln(vit)
    assert len(linears) == 8 and len(norms) == 5
    for m in linears:  # qkv, proj, fc1, fc2: trunc-normal 0.02, zero bias
        assert abs(float(m.weight.std()) - 0.02) < 0.001
        assert float(m.weight.mean()).__abs__() < 0.001
        assert torch.count_nonzero(m.bias) == 0
    for m in norms:
        assert torch.all(m.weight == 1) and torch.count_nonzero(m.bias) == 0
    assert abs(float(vit.cls_token.std()) - 0.02) < 0.003  # 256 values
    assert abs(float(vit.pos_embed.std()) - 0.02) < 0.001
    # The patch projection keeps PyTorch's Conv2d default (kaiming-uniform,
    # a = sqrt(5)): uniform within 1 / sqrt(fan_in), fan_in = 3 * 16 * 16.
    conv = vit.patch_embed.projection
    bound = 1 / math.sqrt(3 * 16 * 16)
    assert float(conv.weight.abs().max()) <= bound
    assert abs(float(conv.weight.std()) - bound / math.sqrt(3)) < 0.05 * bound

    # mmpretrain's own init redraws the FFN xavier-uniform despite the same
    # init_cfg: std sqrt(2 / (256 + 1024)) = 0.0395, and cls_token stays 0.
    torch.manual_seed(0)
    plain = VisionTransformer(arch=arch, img_size=64, patch_size=16,
                              init_cfg=vit.init_cfg)
    plain.init_weights()
    fc1 = plain.layers[0].ffn.layers[0][0]
    assert abs(float(fc1.weight.std()) - math.sqrt(2 / 1280)) < 0.002
    assert torch.count_nonzero(plain.cls_token) == 0


def test_init_skipped_when_loading_and_optional():
    vit = DINOVisionTransformer(arch=ARCH, img_size=32, patch_size=8,
                                init_cfg=None)
    vit.init_weights()  # mmpretrain's behaviour: cls_token stays zero
    assert torch.count_nonzero(vit.cls_token) == 0
    ffn = vit.layers[0].ffn.layers[0][0]
    assert abs(float(ffn.bias.std()) - 1e-6) < 1e-6  # N(0, 1e-6) biases


def test_gtsa_config_initialises_as_the_reference(repo_root):
    """The whole demo model as the Runner initialises it: reference ViT
    init, and the rotation head at PyTorch's Linear default (uniform within
    1 / sqrt(fan_in), biases too)."""
    cfg = Config.fromfile(f'{repo_root}/configs/gtsa_vit-tiny_demo.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone) is DINOVisionTransformer
    linears, _ = _linear_and_ln(model.backbone)
    for m in linears:
        assert abs(float(m.weight.std()) - 0.02) < 0.002
        assert torch.count_nonzero(m.bias) == 0
    assert torch.count_nonzero(model.backbone.cls_token) > 0
    rot = [m for m in model.rot_head.modules() if isinstance(m, nn.Linear)]
    assert len(rot) == 4
    for m in rot:
        bound = 1 / math.sqrt(m.in_features)
        assert float(m.weight.abs().max()) <= bound
        assert float(m.bias.abs().max()) <= bound
        assert torch.count_nonzero(m.bias) == m.bias.numel()
    first = rot[0]  # 96 -> 128: 12k values, std bound / sqrt(3)
    assert abs(float(first.weight.std()) * math.sqrt(3) - 1 / math.sqrt(96)) \
        < 0.05 / math.sqrt(96)


def test_same_state_dict_keys_as_mmpretrain(repo_root):
    """Checkpoints move between pretraining (ours) and downstream
    (mmpretrain's ViT) without renaming."""
    cfg = Config.fromfile(f'{repo_root}/configs/gtsa_vit-s_coco.py')
    ours = MODELS.build(cfg.model.backbone)
    plain = dict(cfg.model.backbone, type='VisionTransformer')
    theirs = MODELS.build(plain)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(ours.state_dict(), strict=True)


def test_interpolate_matches_pytorch_scale_factor_semantics():
    """The rule is F.interpolate with the scale factor kept for the
    coordinates (recompute_scale_factor unset); recomputing it from the
    output size would give the size= rule instead."""
    pe = torch.randn(1, 1 + 14 * 14, 3)
    out = resize_pos_embed_offset(pe, (14, 14), (6, 6))
    grid = pe[:, 1:].reshape(1, 14, 14, 3).permute(0, 3, 1, 2)
    recomputed = F.interpolate(grid, scale_factor=6.1 / 14, mode='bicubic',
                               align_corners=False,
                               recompute_scale_factor=True)
    recomputed = recomputed.flatten(2).transpose(1, 2)
    sized = resize_pos_embed(pe, (14, 14), (6, 6), 'bicubic', 1)
    torch.testing.assert_close(recomputed, sized[:, 1:])
    assert (out[:, 1:] - sized[:, 1:]).abs().max() > 1e-3
