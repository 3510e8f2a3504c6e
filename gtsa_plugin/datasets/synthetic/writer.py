"""Write the synthetic scenes in every layout, atomically.

See :func:`generate_synthetic_scenes` for the layout. Files are encoded with
fixed settings, so equal arguments give byte-identical files.
"""
from __future__ import annotations

import io
import json
import os
import os.path as osp
import shutil
import uuid
import warnings
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from .coco import mask_to_coco_segmentation, tight_bbox
from .scene import (MIN_VISIBLE_AREA, STUFF_CLASSES, check_num_classes,
                    render_scene, synthetic_classes)

JPEG_QUALITY = 90
CROP_SIZE = 64
_META_NAME = 'meta.json'
#: Bumped when the same arguments start giving different scenes.
GENERATOR_VERSION = 2


def synthetic_scene_paths(out_dir: str, num_classes: int = 4) -> dict:
    """The paths :func:`generate_synthetic_scenes` writes under ``out_dir``."""
    j = osp.join
    return {
        'root': out_dir,
        'unlabeled': j(out_dir, 'unlabeled'),
        'coco_train_ann': j(out_dir, 'coco', 'annotations',
                            'instances_train.json'),
        'coco_val_ann': j(out_dir, 'coco', 'annotations',
                          'instances_val.json'),
        'coco_train_img': j(out_dir, 'coco', 'train'),
        'coco_val_img': j(out_dir, 'coco', 'val'),
        'ade_img_train': j(out_dir, 'ade', 'images', 'training'),
        'ade_img_val': j(out_dir, 'ade', 'images', 'validation'),
        'ade_ann_train': j(out_dir, 'ade', 'annotations', 'training'),
        'ade_ann_val': j(out_dir, 'ade', 'annotations', 'validation'),
        'cls_train': j(out_dir, 'cls', 'train'),
        'cls_val': j(out_dir, 'cls', 'val'),
        'classes': synthetic_classes(num_classes),
    }


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == 'JPEG':
        Image.fromarray(array).save(buf, 'JPEG', quality=JPEG_QUALITY)
    else:
        Image.fromarray(array).save(buf, 'PNG')
    return buf.getvalue()


def _write(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def _crop(image: np.ndarray, bbox: Sequence[int]) -> np.ndarray:
    """Square window around ``bbox`` with 15% padding, slid to stay inside
    the image when it fits, resized to CROP_SIZE x CROP_SIZE."""
    h, w = image.shape[:2]
    x, y, bw, bh = bbox
    side = int(np.ceil(max(bw, bh) * 1.15)) + 2
    x0 = int(round(x + bw / 2 - side / 2))
    y0 = int(round(y + bh / 2 - side / 2))
    x0 = min(max(x0, 0), max(w - side, 0))
    y0 = min(max(y0, 0), max(h - side, 0))
    patch = image[y0:y0 + side, x0:x0 + side]
    return np.asarray(
        Image.fromarray(patch).resize((CROP_SIZE, CROP_SIZE),
                                      Image.BILINEAR))


def _make_dirs(paths: dict) -> None:
    for key, p in paths.items():
        if key in ('root', 'classes'):
            continue
        os.makedirs(osp.dirname(p) if p.endswith('.json') else p,
                    exist_ok=True)
    for split in ('cls_train', 'cls_val'):
        for name in paths['classes']['cls']:
            os.makedirs(osp.join(paths[split], name), exist_ok=True)


def _write_dataset(out_dir: str, num_images: int, seed: int,
                   image_size: Tuple[int, int], num_classes: int,
                   val_fraction: float, progress: bool) -> None:
    """Write all layouts into ``out_dir`` (assumed to be private)."""
    n_val = min(max(1, int(round(num_images * val_fraction))), num_images - 1)
    n_train = num_images - n_val
    paths = synthetic_scene_paths(out_dir, num_classes)
    _make_dirs(paths)
    classes = paths['classes']
    categories = [
        dict(id=i + 1, name=n, supercategory='shape')
        for i, n in enumerate(classes['coco'])
    ]
    coco = {s: dict(images=[], annotations=[], categories=categories)
            for s in ('train', 'val')}
    ann_id = 0
    indices = range(num_images)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc='synthetic scenes', unit='img')
    for i in indices:
        train = i < n_train
        split = 'train' if train else 'val'
        scene = render_scene(i, seed, image_size, num_classes)
        stem = f'{i:06d}'
        jpg = _encode(scene['image'], 'JPEG')
        _write(osp.join(paths[f'coco_{split}_img'], stem + '.jpg'), jpg)
        if train:
            _write(osp.join(paths['unlabeled'], stem + '.jpg'), jpg)
        ade = 'train' if train else 'val'
        _write(osp.join(paths[f'ade_img_{ade}'], stem + '.jpg'), jpg)
        _write(osp.join(paths[f'ade_ann_{ade}'], stem + '.png'),
               _encode(scene['semantic'], 'PNG'))
        h, w = scene['semantic'].shape
        coco[split]['images'].append(
            dict(id=i + 1, file_name=stem + '.jpg', width=w, height=h))
        for j, inst in enumerate(scene['instances']):
            ann_id += 1
            mask = inst['mask']
            area = cv2.countNonZero(mask.view(np.uint8))
            bbox = tight_bbox(mask)
            coco[split]['annotations'].append(
                dict(id=ann_id, image_id=i + 1,
                     category_id=inst['category'] + 1,
                     segmentation=mask_to_coco_segmentation(mask),
                     area=area, bbox=bbox, iscrowd=0))
            # Crop only objects that are mostly visible and not tiny.
            if area >= 0.5 * inst['drawn_area'] and min(bbox[2:]) >= 8:
                name = classes['cls'][inst['category']]
                _write(
                    osp.join(paths[f'cls_{split}'], name,
                             f'{stem}_{j:02d}.jpg'),
                    _encode(_crop(scene['image'], bbox), 'JPEG'))
    for split in ('train', 'val'):
        with open(paths[f'coco_{split}_ann'], 'w') as f:
            json.dump(coco[split], f, separators=(',', ':'))
    meta = dict(
        classes=classes,
        stuff_classes=list(STUFF_CLASSES),
        args=dict(num_images=int(num_images), seed=int(seed),
                  image_size=[int(s) for s in image_size],
                  num_classes=int(num_classes),
                  val_fraction=float(val_fraction)),
        generator_version=GENERATOR_VERSION,
        num_train=n_train, num_val=n_val, jpeg_quality=JPEG_QUALITY,
        crop_size=CROP_SIZE, min_visible_area=MIN_VISIBLE_AREA)
    with open(osp.join(out_dir, _META_NAME), 'w') as f:
        json.dump(meta, f, indent=1)


def _is_populated(out_dir: str) -> bool:
    unl = osp.join(out_dir, 'unlabeled')
    return osp.isdir(unl) and len(os.listdir(unl)) > 0


def _build(out_dir: str, replace: bool, **kwargs) -> bool:
    """Generate into a private sibling folder, then rename it into place.

    Returns True when this call's output ended up at ``out_dir``. With
    ``replace=False`` an existing non-empty ``out_dir`` (e.g. written by a
    concurrent caller that won the race) is kept and our copy discarded.
    """
    out_dir = osp.normpath(out_dir)
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, f'.{osp.basename(out_dir)}.tmp-{os.getpid()}-'
                   f'{uuid.uuid4().hex[:8]}')
    try:
        _write_dataset(tmp, **kwargs)
        for _ in range(5):
            try:
                # Atomic on POSIX; fails if out_dir exists and is not empty.
                os.rename(tmp, out_dir)
                return True
            except OSError:
                if not osp.exists(out_dir):
                    continue  # vanished between our checks: just retry
                if not replace:
                    return False
                trash = tmp + '.old'
                try:
                    os.rename(out_dir, trash)
                except OSError:
                    continue
                shutil.rmtree(trash, ignore_errors=True)
        raise RuntimeError(f'could not move synthetic scenes to {out_dir}')
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _check_args(num_images: int, image_size: Sequence[int],
                num_classes: int, val_fraction: float) -> None:
    check_num_classes(num_classes)
    if num_images < 2:
        raise ValueError('num_images must be >= 2 (one train, one val)')
    if len(image_size) != 2 or min(image_size) < 16:
        raise ValueError(f'image_size must be (width, height) >= 16 px, got '
                         f'{image_size}')
    if not 0 <= val_fraction < 1:
        raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')


def generate_synthetic_scenes(out_dir: str, num_images: int = 16,
                              seed: int = 0,
                              image_size: tuple = (256, 192),
                              num_classes: int = 4,
                              val_fraction: float = 0.25,
                              progress: bool = False) -> dict:
    """Write ``num_images`` synthetic scenes under ``out_dir`` in all layouts.

    The last ``max(1, round(num_images * val_fraction))`` scenes (keeping at
    least one train scene) are the validation split, the rest train; scene
    ``i`` is named ``f'{i:06d}'`` everywhere. Layout::

        meta.json                       classes dict + generation arguments
        unlabeled/000000.jpg ...        train scenes (pretraining)
        coco/{train,val}/*.jpg          same scenes
        coco/annotations/instances_{train,val}.json
        ade/images/{training,validation}/*.jpg
        ade/annotations/{training,validation}/*.png   uint8 labels
        cls/{train,val}/<class>/<scene>_<obj>.jpg      64x64 object crops

    An existing ``out_dir`` is replaced. Writing goes to a temporary sibling
    folder renamed into place, so readers never see a half-written dataset.

    Args:
        out_dir: Dataset root.
        num_images: Number of scenes (>= 2).
        seed: Base seed; scene ``i`` uses ``SeedSequence(seed,
            spawn_key=(i,))``.
        image_size: ``(width, height)`` in pixels.
        num_classes: Number of object classes ``K`` (1..10).
        val_fraction: Fraction of scenes in the validation split.
        progress: Show a tqdm progress bar.

    Returns:
        dict: The written paths (see :func:`synthetic_scene_paths`) and
        ``'classes'``: ``{'coco': [...], 'ade': [...], 'cls': [...]}``.
    """
    _check_args(num_images, image_size, num_classes, val_fraction)
    kwargs = dict(num_images=num_images, seed=seed,
                  image_size=tuple(image_size), num_classes=num_classes,
                  val_fraction=val_fraction, progress=progress)
    _build(out_dir, replace=True, **kwargs)
    return synthetic_scene_paths(out_dir, num_classes)


def ensure_synthetic_scenes(out_dir: str, **kwargs) -> dict:
    """Generate the scenes unless ``out_dir/unlabeled`` already has files.

    Takes the keyword arguments of :func:`generate_synthetic_scenes` and
    returns the same dict. Safe to call from several processes at once (e.g.
    every DDP rank): each writes a private copy and the first rename wins;
    the others discard theirs. An existing dataset is never rewritten; its
    class lists are read from its ``meta.json``.
    """
    if not _is_populated(out_dir):
        args = dict(num_images=16, seed=0, image_size=(256, 192),
                    num_classes=4, val_fraction=0.25, progress=False)
        unknown = set(kwargs) - set(args)
        if unknown:
            raise TypeError(f'unexpected arguments {sorted(unknown)}')
        args.update(kwargs)
        _check_args(args['num_images'], args['image_size'],
                    args['num_classes'], args['val_fraction'])
        args['image_size'] = tuple(args['image_size'])
        _build(out_dir, replace=False, **args)
        if not _is_populated(out_dir):
            raise RuntimeError(
                f'{out_dir} exists but is not a synthetic scene dataset '
                '(no files in unlabeled/); remove it or pick another folder')
    return _existing_paths(out_dir, kwargs)


def _existing_paths(out_dir: str, requested: dict) -> dict:
    meta_path = osp.join(out_dir, _META_NAME)
    meta: Optional[dict] = None
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    num_classes = int(
        (meta or {}).get('args', {}).get(
            'num_classes', requested.get('num_classes', 4)))
    if meta is not None:
        if meta.get('generator_version') != GENERATOR_VERSION:
            warnings.warn(
                f'{out_dir} was written by synthetic scene generator version '
                f'{meta.get("generator_version", 1)}, not {GENERATOR_VERSION}'
                ' (scenes differ); delete it to regenerate')
        stored = dict(meta.get('args', {}))
        for key, value in requested.items():
            if key == 'progress' or key not in stored:
                continue
            if key == 'image_size':
                value = [int(v) for v in value]
            if stored[key] != value:
                warnings.warn(
                    f'{out_dir} was generated with {key}={stored[key]!r}, '
                    f'not {value!r}; using it as is')
    paths = synthetic_scene_paths(out_dir, num_classes)
    if meta is not None and 'classes' in meta:
        paths['classes'] = meta['classes']
    return paths
