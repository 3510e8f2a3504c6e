"""Pictures of what a GTSA (or DINO) ViT learned.

    python tools/visualization/vis_features.py CONFIG CKPT IMAGE [IMAGE ...] \
        --out DIR [--input-size S] [--max-display 640] [--device cpu]

For every image, into ``DIR``:

* ``<name>_pca.png``: the image, then the teacher's and the student's patch
  features (last block, after the final norm: the backbone's ``featmap``)
  as colours: a PCA over the image's patch tokens to 3 components, each
  min-max scaled to one RGB channel, upsampled (nearest) to the image.
  Regions the network considers alike get alike colours.
* ``<name>_attn.png``: the last block's attention of the CLS token over the
  patch tokens, one panel per head; top row teacher, bottom row student.
* ``<name>_rot.png`` (GTSA only): the rotation head's predicted
  distribution over ``k`` for the four rotated copies (``k x 90`` degrees
  counter-clockwise, as in training) of the image's centre crop at the
  model's global crop size. The rotation head reads the student's mean
  patch token, as in training. Skipped (with a note) for models without a
  rotation head, e.g. DINO.

The network input is the whole image resized so that its short side is
``--input-size`` (default: the config's global crop size) and both sides
are multiples of the patch size. CKPT may be a pretraining checkpoint
(teacher ``target_net.module.0.*``, student ``backbone.*``), a converted
reference checkpoint, or a backbone-only file (then teacher = student); it
is read with the plugin's ``weights_only`` loader.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

# Runnable from anywhere: the repo root (two levels up) on the path.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import matplotlib  # noqa: E402

matplotlib.use('Agg')  # files only; never needs a display

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gtsa_plugin.apis.cli import load_config, register_toolkit  # noqa: E402
from gtsa_plugin.datasets.transforms.loading import read_rgb  # noqa: E402
from gtsa_plugin.models.utils.pretrained_init import (  # noqa: E402
    BackboneKeysError, extract_backbone_state_dict)
from gtsa_plugin.utils.checkpoint import safe_load  # noqa: E402
from gtsa_plugin.utils.visualization import (colorize, pca_rgb,  # noqa: E402
                                             resize_nearest, tile_panels,
                                             vit_tokens_and_attention)

#: Size of the rotation figure, inches at :data:`ROT_DPI` (600 x 800 px).
ROT_FIGSIZE = (6.0, 8.0)
ROT_DPI = 100


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='PCA feature maps, CLS attention and rotation '
        'predictions of a GTSA/DINO ViT')
    parser.add_argument('config', help='pretraining config of the model')
    parser.add_argument('checkpoint', help='checkpoint (.pth)')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--input-size',
        type=int,
        help='short side of the network input in pixels (default: the '
        "config's global crop size)")
    parser.add_argument(
        '--max-display',
        type=int,
        default=640,
        help='long side of the drawn image panels at most (default 640)')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='torch device (default: cuda if available)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings')
    return parser.parse_args(argv)


# ---------------------------------------------------------------- model
class FeatureModel:
    """The teacher and student backbones (and rotation head) of a config,
    with a checkpoint's weights.

    Only these parts are built (not the whole algorithm with its projector
    and prototypes), each loaded strictly.
    """

    def __init__(self, cfg: Config, checkpoint: str, device: str) -> None:
        from mmpretrain.registry import MODELS
        model_cfg = cfg.model
        ckpt = safe_load(checkpoint, map_location='cpu')
        self.notes: List[str] = []
        self.backbones: Dict[str, nn.Module] = {}
        layouts = set()
        for source in ('teacher', 'student'):
            try:
                weights, layout = extract_backbone_state_dict(
                    ckpt, source, checkpoint)
            except BackboneKeysError as err:
                self.notes.append(f'no {source}: {err}')
                continue
            layouts.add(layout)
            backbone = MODELS.build(_without_init(model_cfg.backbone))
            backbone.load_state_dict(weights, strict=True)
            backbone.to(device)
            backbone.eval()  # mmpretrain's ViT.train() returns None
            self.backbones[source] = backbone
        if not self.backbones:
            raise BackboneKeysError(f'{checkpoint} holds no backbone')
        if layouts == {'backbone'}:
            self.notes.append('backbone-only checkpoint: teacher = student')
        self.rot_head: Optional[nn.Module] = None
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
        rot = {k[len('rot_head.'):]: v for k, v in state.items()
               if k.startswith('rot_head.')}
        if model_cfg.get('rot_head') is None:
            self.notes.append(f'{model_cfg.get("type")} has no rotation head')
        elif not rot:
            self.notes.append('the checkpoint has no rot_head.* weights')
        else:
            head = MODELS.build(_without_init(model_cfg.rot_head))
            # The loss module has no weights; everything else must load.
            head.load_state_dict(rot, strict=True)
            head.to(device)
            head.eval()
            self.rot_head = head
        self.device = device

        pre = model_cfg.get('data_preprocessor', {}) or {}
        mean = pre.get('mean', [123.675, 116.28, 103.53])
        std = pre.get('std', [58.395, 57.12, 57.375])
        # The pipelines load BGR; with to_rgb the model sees RGB (and mean /
        # std are in RGB order), otherwise BGR.
        self.rgb_input = bool(pre.get('to_rgb', pre.get('bgr_to_rgb', False)))
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        first = next(iter(self.backbones.values()))
        self.patch_size = int(first.patch_embed.projection.stride[0])

    def to_input(self, images_rgb: Sequence[np.ndarray]) -> torch.Tensor:
        """HWC uint8 RGB arrays of one size -> normalised ``(B, 3, H, W)``."""
        x = torch.from_numpy(np.stack(images_rgb)).permute(0, 3, 1, 2).float()
        if not self.rgb_input:
            x = x.flip(1)
        return ((x - self.mean) / self.std).to(self.device)


def _without_init(cfg: dict) -> dict:
    cfg = dict(cfg)
    cfg.pop('init_cfg', None)  # weights come from the checkpoint
    return cfg


def global_crop(cfg: Config) -> Tuple[Optional[int], str]:
    """The global crop size and resize interpolation of the config's
    multi-crop transform (``(None, 'bilinear')`` without one)."""
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline') or cfg.get('train_pipeline') or []
    for t in pipeline:
        if str(t.get('type', '')).endswith('MultiCrop'):
            return int(t['crop_sizes'][0]), t.get('interpolation', 'bilinear')
    return None, 'bilinear'


def network_size(height: int, width: int, short: int,
                 patch: int) -> Tuple[int, int]:
    """``(H, W)`` with short side about ``short``, both multiples of
    ``patch`` (at least one patch)."""
    scale = short / min(height, width)
    return (max(patch, int(round(height * scale / patch)) * patch),
            max(patch, int(round(width * scale / patch)) * patch))


def display_size(height: int, width: int, max_side: int) -> Tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, int(round(height * scale))), max(1, int(round(width *
                                                                scale)))


# ------------------------------------------------------------- pictures
def feature_pictures(model: FeatureModel, image: np.ndarray,
                     input_size: int, max_display: int
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """The PCA and attention pictures of one RGB image (uint8 arrays)."""
    h, w = image.shape[:2]
    in_h, in_w = network_size(h, w, input_size, model.patch_size)
    net_in = np.asarray(Image.fromarray(image).resize((in_w, in_h),
                                                      Image.BICUBIC))
    x = model.to_input([net_in])
    shown_size = display_size(h, w, max_display)
    shown = np.asarray(Image.fromarray(image).resize(
        shown_size[::-1], Image.BICUBIC)) if shown_size != (h, w) else image

    pca_row, pca_caps, attn_rows, attn_caps = [shown], ['image'], [], []
    for source, backbone in model.backbones.items():
        tokens, attention = vit_tokens_and_attention(backbone, x)
        grid = tokens.shape[1:3]
        rgb = pca_rgb(tokens[0].flatten(0, 1)).reshape(*grid, 3)
        pca_row.append(resize_nearest(rgb, shown_size))
        pca_caps.append(f'{source} PCA')
        if attention is not None:
            heads = [resize_nearest(colorize(a.cpu().numpy()), shown_size)
                     for a in attention[0]]
            attn_rows.append([shown] + heads)
            attn_caps.append([source] +
                             [f'head {i}' for i in range(len(heads))])
    pca = tile_panels([pca_row], [pca_caps])
    attn = tile_panels(attn_rows, attn_caps) if attn_rows else None
    return pca, attn


@torch.no_grad()
def rotation_probabilities(model: FeatureModel, image: np.ndarray,
                           crop_size: int, interpolation: str
                           ) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Softmax of the rotation head for the 4 rotations of the centre crop.

    Returns:
        ``(probs, views)``: ``probs[k]`` is the distribution predicted for
        the copy turned ``k`` quarter turns counter-clockwise; ``views`` the
        four RGB copies.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = mmcv.imresize(image[y0:y0 + side, x0:x0 + side],
                         (crop_size, crop_size),
                         interpolation=interpolation, backend='pillow')
    # np.rot90 on HWC is what GTSAMultiCrop applies (counter-clockwise).
    views = [np.ascontiguousarray(np.rot90(crop, k)) for k in range(4)]
    student = model.backbones.get('student',
                                  next(iter(model.backbones.values())))
    tokens, _ = vit_tokens_and_attention(student, model.to_input(views))
    logits = model.rot_head(tokens.mean(dim=(1, 2)))
    return logits.softmax(dim=-1).cpu().numpy(), views


def rotation_figure(probs: np.ndarray, views: List[np.ndarray],
                    path: str) -> None:
    """One row per rotated copy: the copy, then its predicted
    distribution (the true ``k`` highlighted)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(4, 2, figsize=ROT_FIGSIZE, dpi=ROT_DPI,
                             gridspec_kw=dict(width_ratios=(1, 1.6)))
    correct = int((probs.argmax(1) == np.arange(4)).sum())
    fig.suptitle(f'rotation head: {correct}/4 rotations recognised')
    for k in range(4):
        axes[k, 0].imshow(views[k])
        axes[k, 0].set_axis_off()
        axes[k, 0].set_title(f'input turned k={k} ({90 * k} deg CCW)',
                             fontsize=8)
        colours = ['tab:green' if j == k else 'tab:gray' for j in range(4)]
        axes[k, 1].bar(range(4), probs[k], color=colours)
        axes[k, 1].set_ylim(0, 1)
        axes[k, 1].set_xticks(range(4), [f'k={j}' for j in range(4)])
        axes[k, 1].set_ylabel('p', fontsize=8)
    fig.tight_layout()
    # No bbox_inches='tight': the PNG is exactly figsize x dpi pixels.
    fig.savefig(path, dpi=ROT_DPI)
    plt.close(fig)


def output_stems(images: Sequence[str]) -> List[str]:
    """File stems, made unique when two images share a name."""
    stems, seen = [], {}
    for path in images:
        stem = osp.splitext(osp.basename(path))[0]
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        stems.append(stem if count == 0 else f'{stem}_{count}')
    return stems


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """Run the tool; returns ``{image: [written files]}``."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    from mmengine.registry import init_default_scope
    init_default_scope(register_toolkit(cfg))
    model = FeatureModel(cfg, args.checkpoint, args.device)
    for note in model.notes:
        print(f'note: {note}')
    crop_size, interpolation = global_crop(cfg)
    if crop_size is None:
        crop_size = int(cfg.model.backbone.get('img_size', 224))
    input_size = args.input_size or crop_size
    os.makedirs(args.out, exist_ok=True)

    written: Dict[str, List[str]] = {}
    for path, stem in tqdm(list(zip(args.images, output_stems(args.images))),
                           desc='images', unit='img'):
        image = read_rgb(path)
        files = []
        pca, attn = feature_pictures(model, image, input_size,
                                     args.max_display)
        files.append(osp.join(args.out, f'{stem}_pca.png'))
        Image.fromarray(pca).save(files[-1])
        if attn is not None:
            files.append(osp.join(args.out, f'{stem}_attn.png'))
            Image.fromarray(attn).save(files[-1])
        if model.rot_head is not None:
            probs, views = rotation_probabilities(model, image, crop_size,
                                                  interpolation)
            files.append(osp.join(args.out, f'{stem}_rot.png'))
            rotation_figure(probs, views, files[-1])
        written[path] = files
    print(f'wrote {sum(len(f) for f in written.values())} pictures of '
          f'{len(written)} images to {args.out}')
    return written


if __name__ == '__main__':
    main()
