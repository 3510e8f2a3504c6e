"""tools/visualization/vis_features.py and its helpers."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from gtsa_plugin.utils.checkpoint import safe_load
from gtsa_plugin.utils.visualization import (CAPTION_HEIGHT, PANEL_GAP,
                                             pca_rgb, tiled_size,
                                             vit_tokens_and_attention)

TOOL = 'tools/visualization/vis_features.py'
HEADS = 3  # configs/gtsa_vit-tiny_demo.py


def png_size(path: str) -> tuple:
    """``(height, width)`` of a non-empty PNG."""
    assert osp.getsize(path) > 0
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size[::-1]


def panel(picture: np.ndarray, col: int, height: int, width: int,
          row: int = 0) -> np.ndarray:
    """Panel ``(row, col)`` of a :func:`tile_panels` picture (no caption)."""
    y = row * (height + CAPTION_HEIGHT + PANEL_GAP) + CAPTION_HEIGHT
    x = col * (width + PANEL_GAP)
    return picture[y:y + height, x:x + width]


def test_pca_rgb():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 8))
    rgb = pca_rgb(feats)
    assert rgb.shape == (50, 3)
    assert np.allclose(rgb.min(0), 0) and np.allclose(rgb.max(0), 1)
    # Constant features (up to float rounding) -> one constant colour, not
    # rounding noise stretched to full range, and no NaN from 0 / 0.
    const = np.tile(rng.normal(size=(1, 8)), (50, 1)).astype(np.float32)
    const += np.float32(1e-7) * rng.normal(size=const.shape).astype(np.float32)
    assert np.all(pca_rgb(const) == 0.5)
    assert np.all(pca_rgb(feats[:1]) == 0.5)


def test_attention_is_what_mmpretrain_computes():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(
        arch=dict(embed_dims=24, num_layers=2, num_heads=3,
                  feedforward_channels=48),
        img_size=32, patch_size=8, out_type='featmap')
    vit.eval()
    x = torch.randn(2, 3, 32, 48)
    captured = {}
    attn = vit.layers[-1].attn
    hook = attn.register_forward_hook(
        lambda m, i, o: captured.update(inp=i[0], out=o))
    tokens, attention = vit_tokens_and_attention(vit, x)
    hook.remove()
    # Tokens are the featmap output (and out_type is restored).
    assert vit.out_type == 'featmap'
    torch.testing.assert_close(tokens, vit(x)[-1].permute(0, 2, 3, 1))
    assert tokens.shape == (2, 4, 6, 24) and attention.shape == (2, 3, 4, 6)
    # The module's CLS output is (its attention row) @ v, projected: rebuild
    # the full row from the returned patch part plus the CLS column.
    b, n, c = captured['inp'].shape
    qkv = attn.qkv(captured['inp']).reshape(b, n, 3, 3, c // 3).permute(
        2, 0, 3, 1, 4)
    full = (qkv[0] @ qkv[1].transpose(-2, -1) * (c // 3)**-0.5).softmax(-1)
    torch.testing.assert_close(full[:, :, 0, 1:].reshape(2, 3, 4, 6),
                               attention)
    cls_out = attn.proj((full[:, :, :1] @ qkv[2]).transpose(1, 2).reshape(
        b, 1, c))
    torch.testing.assert_close(cls_out[:, 0], captured['out'][:, 0],
                               rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def constant_image(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('const') / 'constant.png'
    Image.fromarray(np.full((192, 256, 3), 120, np.uint8)).save(path)
    return str(path)


@pytest.mark.slow  # uses the demo training run
def test_gtsa_pictures(tool_module, gtsa_demo_ckpt, tmp_path):
    vis = tool_module(TOOL)
    image = gtsa_demo_ckpt['images'][0]
    out = tmp_path / 'pictures'
    written = vis.main([gtsa_demo_ckpt['config'], gtsa_demo_ckpt['ckpt'],
                        image, '--out', str(out)])
    stem = osp.splitext(osp.basename(image))[0]
    files = written[image]
    assert [osp.basename(f) for f in files] == [
        f'{stem}_pca.png', f'{stem}_attn.png', f'{stem}_rot.png']
    h, w = 192, 256  # the synthetic scenes; under --max-display
    # image | teacher | student, and (teacher, student) x (image + heads).
    assert png_size(files[0]) == tiled_size(1, 3, h, w)
    assert png_size(files[1]) == tiled_size(2, 1 + HEADS, h, w)
    assert png_size(files[2]) == (vis.ROT_FIGSIZE[1] * vis.ROT_DPI,
                                  vis.ROT_FIGSIZE[0] * vis.ROT_DPI)
    pca = np.asarray(Image.open(files[0]).convert('RGB'))
    for col in (1, 2):  # a trained model's map of a real scene has structure
        assert len(np.unique(panel(pca, col, h, w).reshape(-1, 3),
                             axis=0)) > 10


@pytest.mark.slow  # uses the demo training run
def test_rotation_probabilities_are_distributions(tool_module, gtsa_demo_ckpt):
    from mmengine.registry import init_default_scope

    from gtsa_plugin.apis.cli import load_config, register_toolkit
    from gtsa_plugin.datasets.transforms.loading import read_rgb
    vis = tool_module(TOOL)
    cfg = load_config(gtsa_demo_ckpt['config'])
    init_default_scope(register_toolkit(cfg))
    model = vis.FeatureModel(cfg, gtsa_demo_ckpt['ckpt'], 'cpu')
    assert set(model.backbones) == {'teacher', 'student'}
    probs, views = vis.rotation_probabilities(
        model, read_rgb(gtsa_demo_ckpt['images'][1]), 96, 'bilinear')
    assert probs.shape == (4, 4) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert [v.shape for v in views] == [(96, 96, 3)] * 4
    assert np.array_equal(views[1], np.rot90(views[0]))


@pytest.mark.slow  # uses the demo training run
def test_constant_image_gives_constant_pca(tool_module, gtsa_demo_ckpt,
                                           constant_image, tmp_path):
    """With a ViT's position embeddings, the patches of a constant image
    still differ (position leaks into every token), so the PCA map shows
    the position code. Without them every token is computed from identical
    inputs; the map must then be one flat colour, which checks that the
    tool itself (resizing, PCA, scaling, tiling) adds no structure."""
    vis = tool_module(TOOL)
    ckpt = safe_load(gtsa_demo_ckpt['ckpt'])
    sd = dict(ckpt['state_dict'])
    for key in ('backbone.pos_embed', 'target_net.module.0.pos_embed'):
        sd[key] = torch.zeros_like(sd[key])
    path = tmp_path / 'no_pos_embed.pth'
    torch.save(dict(state_dict=sd), path)
    written = vis.main([gtsa_demo_ckpt['config'], str(path), constant_image,
                        '--out', str(tmp_path / 'out')])
    pca = np.asarray(Image.open(written[constant_image][0]).convert('RGB'))
    h, w = 192, 256
    for col in (1, 2):
        colours = np.unique(panel(pca, col, h, w).reshape(-1, 3), axis=0)
        assert len(colours) == 1, colours[:5]


def test_dino_checkpoint_skips_rotation(tool_module, repo_root, constant_image,
                                        tmp_path, capsys):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    vis = tool_module(TOOL)
    config = osp.join(repo_root, 'configs/dino_vit-tiny_demo.py')
    model = MODELS.build(Config.fromfile(config).model)
    path = tmp_path / 'dino.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    written = vis.main([config, str(path), constant_image, '--out',
                        str(tmp_path / 'out'), '--input-size', '64'])
    names = [osp.basename(f) for f in written[constant_image]]
    assert names == ['constant_pca.png', 'constant_attn.png']
    assert png_size(written[constant_image][1]) == tiled_size(2, 4, 192, 256)
    assert 'no rotation head' in capsys.readouterr().out
