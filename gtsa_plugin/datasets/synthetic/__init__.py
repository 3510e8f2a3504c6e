"""Seeded synthetic, non-object-centric scenes for tests, demos and probes.

Every scene is a textured background ("stuff": ground, sky, rocks) and
several overlapping objects ("things") of ``K`` classes; a class is a shape
and a texture, its colour is random (:mod:`.scene`). The same scenes are
written in four layouts (:func:`generate_synthetic_scenes`): an unlabelled
image folder for pretraining, COCO instances (mmdet), ADE20K-style semantic
masks (mmseg) and ImageNet-style object crops (mmpretrain).

Conventions:

* Coordinates are pixels, ``x`` to the right, ``y`` down; pixel ``(x, y)``
  covers the square ``[x, x + 1) x [y, y + 1)``, so a polygon vertex at
  ``(x, y)`` is that pixel's top-left corner (pycocotools' convention).
* Image sizes are ``(width, height)``; arrays are ``(height, width[, 3])``,
  RGB, ``uint8``.
* COCO ``bbox`` is ``[x, y, w, h]`` of the visible mask's tight box
  (``w = x_max - x_min + 1``); ``area`` is the visible pixel count; category
  ids are ``1..K`` in :data:`SYNTHETIC_CLASSES` order; image ids are the
  scene index plus one (file ``000000.jpg`` is image id 1).
* ADE masks label every pixel: ``1..S`` = :data:`STUFF_CLASSES`,
  ``S+1..S+K`` = object classes; ``0`` (ignore) is never written; use
  ``reduce_zero_label=True`` in mmseg, as for ADE20K.
* Determinism: scene ``i`` is rendered from
  ``SeedSequence(seed, spawn_key=(i,))`` alone (plus size and ``K``), and the
  files are encoded with fixed settings, so equal arguments give
  byte-identical files.

Modules, one job each: :mod:`.textures` (patterns, colours),
:mod:`.shapes` (outlines, rasterisation), :mod:`.scene` (one scene),
:mod:`.coco` (instance annotations), :mod:`.writer` (layouts, atomic
folder build). Only numpy, OpenCV and Pillow are imported at module level
(pycocotools and tqdm lazily), so configs can import this cheaply.
"""
from .coco import mask_to_coco_segmentation
from .scene import (MIN_VISIBLE_AREA, STUFF_CLASSES, SYNTHETIC_CLASSES,
                    render_scene, synthetic_classes)
from .textures import OBJECT_TEXTURES
from .writer import (CROP_SIZE, GENERATOR_VERSION, JPEG_QUALITY,
                     ensure_synthetic_scenes, generate_synthetic_scenes,
                     synthetic_scene_paths)

__all__ = [
    'SYNTHETIC_CLASSES', 'STUFF_CLASSES', 'OBJECT_TEXTURES',
    'synthetic_classes', 'render_scene', 'mask_to_coco_segmentation',
    'generate_synthetic_scenes', 'ensure_synthetic_scenes',
    'synthetic_scene_paths', 'JPEG_QUALITY', 'CROP_SIZE', 'MIN_VISIBLE_AREA',
    'GENERATOR_VERSION'
]
