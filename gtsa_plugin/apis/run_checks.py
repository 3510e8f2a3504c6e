"""Checks of a whole training config, run before the model is built.

:func:`gtsa_plugin.apis.cli.preflight` calls :func:`check_run` after the
dataset checks. Each check names the config keys involved, so a run that
cannot do what was asked stops in seconds, not after the model (and its
pretrained weights) has been set up, or, worse, trains something else:

* the data pipeline is built (wrong types: ``num_crops=10``,
  ``min_overlap='0.01'`` ... fail with the pipeline entry's key);
* ``model.loss_weights`` must be numbers;
* first, from the config alone (:func:`check_config`): the crops tile the
  backbone's patch grid (every ``crop_sizes`` entry of the training
  pipeline a multiple of ``model.backbone.patch_size``, GTSA's
  ``model.head.feat_stride`` equal to it: the patch size is set once in a
  config, but ``--cfg-options`` can still change one of them alone), and a
  classifier's head, data preprocessor (with mixup / cutmix) and top-k
  validation metrics agree on the number of classes;
* a warning when ``model.pc_warmup_epochs`` leaves no epoch with GTSA's
  ``loss_pc``;
* a batch larger than the data set with ``drop_last`` (0 iterations);
* ``num_workers=0`` turns ``persistent_workers`` off (torch refuses both);
* a warning when the epoch-based schedules end elsewhere than
  ``train_cfg.max_epochs`` (e.g. ``--cfg-options train_cfg.max_epochs=2``
  on a 12-epoch config).
"""
from __future__ import annotations

import os
import warnings
from typing import List, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from ..datasets.transforms.multi_crop import is_number


def world_size(cfg: Config) -> int:
    """Number of training processes this launch will have (the process
    group does not exist yet)."""
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return 1
    for var in ('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 1


def warn(message: str) -> None:
    """A warning before the Runner (and its log file) exists: Python's
    ``warnings`` and the console logger."""
    warnings.warn(message, stacklevel=3)
    print_log(message, logger='current', level=30)


def check_pipeline(dataset_cfg: dict, key: str, scope: str) -> None:
    """Build every transform of ``dataset_cfg.pipeline`` now; an error is
    re-raised naming the entry (``train_dataloader.dataset.pipeline.1``)."""
    from mmengine.registry import TRANSFORMS
    for i, transform in enumerate(dataset_cfg.get('pipeline') or []):
        if not isinstance(transform, dict):
            continue
        with TRANSFORMS.switch_scope_and_registry(scope) as registry:
            try:
                registry.build(transform)
            except (TypeError, ValueError) as err:
                raise type(err)(
                    f'{key}.pipeline.{i} ({transform.get("type")}): '
                    f'{err}') from None


def check_model(cfg: Config) -> None:
    """``model.loss_weights`` are numbers; GTSA's patch-correspondence loss
    is switched on within ``train_cfg.max_epochs``."""
    model = cfg.get('model') or {}
    for name, value in dict(model.get('loss_weights') or {}).items():
        if not is_number(value):
            raise TypeError(f'model.loss_weights.{name} must be a number, '
                            f'got {value!r}')
    warmup = model.get('pc_warmup_epochs')
    if warmup is None:
        return
    if not is_number(warmup):
        raise TypeError(
            f'model.pc_warmup_epochs must be a number, got {warmup!r}')
    max_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    pc_weight = dict(model.get('loss_weights') or {}).get('pc', 1.0)
    if is_number(max_epochs) and warmup >= max_epochs and pc_weight > 0:
        # A warning, not an error: short smoke runs of a GTSA config (one
        # or two epochs) are legitimate and common.
        warn(f'model.pc_warmup_epochs={warmup} >= train_cfg.max_epochs='
             f'{max_epochs}: loss_pc stays 0 for the whole run (GTSA without '
             'its patch-correspondence loss). Lower model.pc_warmup_epochs, '
             'or set model.loss_weights.pc=0 to say it is meant.')


def dataset_cfgs(cfg, key: str):
    """``(config key, dataset config)`` of a dataset config and of those
    inside dataset wrappers (``dataset=`` / ``datasets=[...]``)."""
    if not isinstance(cfg, dict):
        return
    yield key, cfg
    inner = cfg.get('dataset')
    if isinstance(inner, dict):
        yield from dataset_cfgs(inner, f'{key}.dataset')
    for i, sub in enumerate(cfg.get('datasets') or []):
        yield from dataset_cfgs(sub, f'{key}.datasets.{i}')


def _patch_pixels(patch) -> int:
    """Side of a square patch in pixels from ``model.backbone.patch_size``
    (an int, or an ``(h, w)`` pair with ``h == w``)."""
    if isinstance(patch, (list, tuple)) and len(patch) == 2 and \
            patch[0] == patch[1]:
        patch = patch[0]
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise TypeError(
            f'model.backbone.patch_size must be a positive integer (pixels '
            f'per side of a square patch), got {patch!r}')
    return patch


def check_patch_grid(cfg: Config) -> None:
    """Crop sizes and GTSA's RoIAlign stride agree with the ViT's patch
    size: a crop side that is not a multiple of it leaves a partial patch
    (GTSA's boxes would map to the wrong cells), a stride other than the
    patch size scales every box wrongly.

    Raises:
        TypeError: ``model.backbone.patch_size`` is not a positive integer
            (or a square ``(p, p)``).
        ValueError: naming ``model.backbone.patch_size`` and the key that
            disagrees with it.
    """
    model = cfg.get('model') or {}
    backbone = model.get('backbone')
    if not isinstance(backbone, dict) or backbone.get('patch_size') is None:
        return  # not a ViT
    patch = _patch_pixels(backbone['patch_size'])
    stride = (model.get('head') or {}).get('feat_stride')
    if stride is not None and stride != patch:
        raise ValueError(
            f'model.head.feat_stride={stride} but model.backbone.patch_size='
            f'{patch}: GTSA maps crop boxes to patch cells with the stride, '
            'so both must be the patch size (set both)')
    loader = cfg.get('train_dataloader')
    if not isinstance(loader, dict):
        return
    for key, dataset in dataset_cfgs(loader.get('dataset'),
                                     'train_dataloader.dataset'):
        for i, transform in enumerate(dataset.get('pipeline') or []):
            sizes = transform.get('crop_sizes') if isinstance(
                transform, dict) else None
            if not isinstance(sizes, (list, tuple)):
                continue
            bad = [s for s in sizes if is_number(s) and s % patch]
            if bad:
                raise ValueError(
                    f'{key}.pipeline.{i}.crop_sizes={tuple(sizes)}: {bad} '
                    f'not a multiple of model.backbone.patch_size={patch}; '
                    'the ViT would see a partial patch at the border')


def _num_classes(cfg: Config):
    """``(key, value)`` of the classifier head's ``num_classes`` and, when
    mixup / cutmix targets are made (``model.train_cfg.augments``), of the
    effective data preprocessor's (the model's own wins over the top-level
    one, as in mmengine's Runner)."""
    model = cfg.get('model') or {}
    head = model.get('head')
    out = []
    if isinstance(head, dict) and is_number(head.get('num_classes')):
        out.append(('model.head.num_classes', head['num_classes']))
    if not (model.get('train_cfg') or {}).get('augments'):
        return out  # the preprocessor's count is used for nothing else
    for key, pre in (('model.data_preprocessor',
                      model.get('data_preprocessor')),
                     ('data_preprocessor', cfg.get('data_preprocessor'))):
        if isinstance(pre, dict) and 'num_classes' in pre:
            if is_number(pre['num_classes']):
                out.append((f'{key}.num_classes', pre['num_classes']))
            break
    return out


def check_classes(cfg: Config,
                  evaluators: Sequence[str] = ('val_evaluator', )) -> None:
    """A classifier's head and, with mixup / cutmix, its data preprocessor
    (one-hot targets) agree on the number of classes, and no top-k accuracy
    of ``evaluators`` (``test_evaluator`` for a test run) asks for more
    classes than there are.

    Raises:
        ValueError: naming both ``num_classes`` keys, or the evaluator's
            ``topk``.
    """
    counts = _num_classes(cfg)
    if len({n for _, n in counts}) > 1:
        raise ValueError(
            ' but '.join(f'{k}={n}' for k, n in counts) + ': set both to the '
            'number of classes of the data (mixup / cutmix targets are '
            'one-hot vectors of the second)')
    if not counts:
        return
    classes = counts[0][1]
    for key in evaluators:
        found = cfg.get(key)
        single = not isinstance(found, (list, tuple))
        for i, ev in enumerate([found] if single else found):
            topk = ev.get('topk') if isinstance(ev, dict) else None
            ks = topk if isinstance(topk, (list, tuple)) else [topk]
            too_big = [k for k in ks if is_number(k) and k > classes]
            if too_big:
                name = key if single else f'{key}.{i}'
                raise ValueError(
                    f'{name}.topk={topk} asks for top-{max(too_big)} '
                    f'accuracy but {counts[0][0]}={classes}; set '
                    f'{name}.topk=1 (or a tuple of k <= {classes})')


def check_config(cfg: Config) -> None:
    """The checks that read nothing but the config: patch grid and number
    of classes (run first, before data folders are scanned or made)."""
    check_patch_grid(cfg)
    check_classes(cfg)


def check_batch(cfg: Config, num_images: Optional[int]) -> None:
    """At least one iteration per epoch; no persistent workers without
    workers."""
    loader = cfg.get('train_dataloader')
    if not isinstance(loader, dict):
        return
    if loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
        loader['persistent_workers'] = False
        print_log('train_dataloader.num_workers=0: persistent_workers '
                  'turned off (it needs worker processes)', logger='current')
    batch = loader.get('batch_size')
    if not is_number(batch) or batch < 1 or int(batch) != batch:
        raise TypeError(f'train_dataloader.batch_size must be a positive '
                        f'integer, got {batch!r}')
    if num_images is None or not loader.get('drop_last', False):
        return
    processes = world_size(cfg)
    if num_images < batch * processes:
        raise ValueError(
            f'train_dataloader.batch_size={batch} x {processes} '
            f'process(es) = {batch * processes} images per iteration, but '
            f'train_dataloader.dataset holds {num_images} images and '
            'train_dataloader.drop_last=True: 0 iterations per epoch. Lower '
            'the batch size or the number of processes, or add images.')


def check_schedule_horizon(cfg: Config) -> List[str]:
    """Warn when epoch-based schedulers end before or after
    ``train_cfg.max_epochs``; returns the warnings."""
    max_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    if not is_number(max_epochs):
        return []
    ends = [(i, s) for i, s in enumerate(schedulers)
            if isinstance(s, dict) and s.get('by_epoch', True)
            and is_number(s.get('end'))]
    if not ends or max(s['end'] for _, s in ends) == max_epochs:
        return []
    horizon = max(s['end'] for _, s in ends)
    wrong = [f'param_scheduler.{i} ({s.get("type")}) end={s["end"]}'
             + (f' T_max={s["T_max"]}' if 'T_max' in s else '')
             for i, s in ends if s['end'] == horizon]
    message = (
        f'train_cfg.max_epochs={max_epochs}, but the lr/weight-decay '
        f'schedules end at epoch {horizon}: '
        + '; '.join(wrong) + '. The schedules will not anneal as configured '
        '(set their end/T_max to match, e.g. with --cfg-options, or set '
        'max_epochs in the config so that both follow it).')
    warn(message)
    return [message]


def check_run(cfg: Config, num_images: Optional[int] = None) -> None:
    """The checks of the whole run that need the data set's size
    (``num_images``, when known): loss weights and warm-up, batch,
    schedule horizon. :func:`check_config` runs earlier, on its own."""
    check_model(cfg)
    check_batch(cfg, num_images)
    check_schedule_horizon(cfg)
