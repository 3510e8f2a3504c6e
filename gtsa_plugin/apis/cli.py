"""Command-line glue: one command line for every config in this repo.

``tools/train.py`` and ``tools/test.py`` are thin wrappers around the
functions here. The toolkit (mmpretrain, mmdet or mmseg) is picked from the
config's ``default_scope``, so the downstream configs run without a checkout
of mmdet or mmseg.
"""
from __future__ import annotations

import importlib
import json
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .arch_options import expand_named_archs

# default_scope -> module whose ``register_all_modules`` fills its registries
TOOLKITS = {
    'mmpretrain': 'mmpretrain.utils',
    'mmdet': 'mmdet.utils',
    'mmseg': 'mmseg.utils',
}


def register_toolkit(cfg: Config) -> str:
    """Import the toolkit named by ``cfg.default_scope`` and register its
    modules; returns the scope."""
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope not in TOOLKITS:
        raise KeyError(
            f'default_scope={scope!r} is not supported; expected one of '
            f'{sorted(TOOLKITS)}')
    importlib.import_module(TOOLKITS[scope]).register_all_modules(
        init_default_scope=False)
    import gtsa_plugin  # noqa: F401  (registry entries, safe loading)
    return scope


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config, apply ``--cfg-options`` and fill ``work_dir`` the way
    OpenMMLab's tools do (``./work_dirs/<config name>`` by default)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config not found: {path}')
    # 'mmdet::'/'mmseg::' base configs: gtsa_plugin.patches.mmengine_config,
    # applied when gtsa_plugin (which this module is part of) was imported.
    cfg = Config.fromfile(path)
    if cfg_options:
        # 'model.backbone.arch.num_layers=6' on arch='deit-small'
        cfg.merge_from_dict(expand_named_archs(cfg, cfg_options))
    cfg.launcher = launcher
    _use_gloo_without_gpu(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def _use_gloo_without_gpu(cfg: Config) -> None:
    # The GPU configs ask for nccl; on CPU-only machines gloo is the backend.
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
    if dist_cfg.get('backend') == 'nccl' and not torch.cuda.is_available():
        dist_cfg['backend'] = 'gloo'
    if cfg.get('launcher', 'none') != 'none' and \
            not torch.cuda.is_available():
        # mmengine's launcher code assumes a GPU per process.
        from ..patches import mmengine_dist
        mmengine_dist.apply()
        cpu_model_wrapper_cfg(cfg)


def cpu_model_wrapper_cfg(cfg) -> None:
    """Give ``cfg`` a ``model_wrapper_cfg`` with ``device_ids=None`` (what
    DDP needs for CPU modules). mmengine sets ``device_ids`` only as a
    default, so the config's value wins; configs without a wrapper config
    get mmengine's default wrapper with its default arguments."""
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` (latest checkpoint in work_dir) or ``--resume PATH``."""
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume


def preflight(cfg: Config) -> None:
    """Checks that must fail before the Runner builds the model.

    The Runner builds the model in its constructor and the datasets only
    when training starts, so a wrong data path used to surface after the
    model (and, downstream, pretrained weights) had been set up. For every
    dataset config of ``train_dataloader``, ``val_dataloader`` and
    ``test_dataloader`` (wrappers included) whose class, looked up in the
    config's ``default_scope``, has a ``preflight(dataset_cfg)`` classmethod
    (e.g. :class:`UnlabeledImageFolder`: missing or empty ``data_root``),
    that check runs now and the dataset's pipeline is built (wrong types
    fail naming the key). Before that, the config alone is checked
    (:func:`.run_checks.check_config`: patch grid, number of classes). Then
    the whole run is checked
    (:func:`.run_checks.check_run`: batch vs data set size, loss weights,
    warm-up vs training length, schedule horizon) and ``--resume`` is
    resolved (:func:`.resume.check_resume`: which checkpoint, loadable,
    written by the same algorithm, batch size and number of processes).
    Call after :func:`register_toolkit`.

    Raises:
        Whatever the dataset's check raises (naming the path).
    """
    from mmengine.registry import DATASETS

    from .resume import check_resume
    from .run_checks import (check_config, check_pipeline, check_run,
                             dataset_cfgs)

    # config-only checks first: nothing is read or generated before them
    check_config(cfg)
    scope = cfg.get('default_scope', 'mmpretrain')
    num_images = None
    for loader_key in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
        loader = cfg.get(loader_key)
        if not isinstance(loader, dict):
            continue
        for key, dataset_cfg in dataset_cfgs(loader.get('dataset'),
                                             f'{loader_key}.dataset'):
            kind = dataset_cfg.get('type')
            if isinstance(kind, str):
                with DATASETS.switch_scope_and_registry(scope) as registry:
                    kind = registry.get(kind)
            check = getattr(kind, 'preflight', None)
            if callable(check):
                found = check(dataset_cfg)
                check_pipeline(dataset_cfg, key, scope)
                if key == 'train_dataloader.dataset':
                    num_images = found
    if cfg.get('train_dataloader') and cfg.get('train_cfg'):
        check_run(cfg, num_images)
        check_resume(cfg)


def fuse_adamw_on_cuda(cfg: Config) -> None:
    """``optim_wrapper.optimizer.fused = True`` for (torch) AdamW/Adam when
    CUDA is available and the config does not say otherwise: one kernel
    for all parameters, and fp16 loss scaling without a host sync
    (GradScaler hands the scale to fused optimisers). Off on CPU, where the
    configs stay as written."""
    optimizer = cfg.get('optim_wrapper', {}).get('optimizer')
    if not torch.cuda.is_available() or not isinstance(optimizer, dict):
        return
    if str(optimizer.get('type', '')).split('.')[-1] in ('AdamW', 'Adam'):
        optimizer.setdefault('fused', True)


def build_runner(cfg: Config) -> Runner:
    fuse_adamw_on_cuda(cfg)
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def stop_dataloader_workers(runner: Runner) -> None:
    """Stop the persistent dataloader workers of a finished run now,
    rather than whenever the garbage collector gets to them."""
    for name in ('_train_loop', '_val_loop', '_test_loop'):
        loader = getattr(getattr(runner, name, None), 'dataloader', None)
        iterator = getattr(loader, '_iterator', None)
        if iterator is not None and hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()


def shutdown_distributed(wait_for_all_ranks: bool = True) -> None:
    """Close the process group (once every rank got here, unless
    ``wait_for_all_ranks=False``). The only process-group teardown of the
    package: tools/train.py calls it after training, and
    :mod:`gtsa_plugin.patches.mmengine_dist` registers it (not waiting) to
    run at exit.

    Why: mmengine never destroys it. Left to interpreter teardown, the DDP
    reducer and gloo's threads were destroyed in arbitrary order and now and
    then aborted a rank after training had finished ("terminate called
    without an active exception", SIGABRT). Call after the runner (and with
    it the DDP-wrapped model) has been released.
    """
    import gc

    import torch.distributed as torch_dist
    if wait_for_all_ranks:
        gc.collect()
    if torch_dist.is_available() and torch_dist.is_initialized():
        if wait_for_all_ranks:
            torch_dist.barrier()
        torch_dist.destroy_process_group()


def dump_metrics(metrics: dict, path: str) -> None:
    """Write evaluation metrics as JSON (numbers made JSON-safe)."""
    def to_builtin(value):
        if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
            return value.item()
        if hasattr(value, 'tolist'):
            return value.tolist()
        return value

    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({k: to_builtin(v) for k, v in metrics.items()}, f, indent=2)
