"""Distributed training on CPU-only machines (gloo) with mmengine 0.10.

mmengine's PyTorch launcher path calls ``torch.cuda.set_device(local_rank)``
before ``init_process_group`` and builds ``DistributedDataParallel`` with
``device_ids=[local_rank]``; both fail without a GPU ("Found no NVIDIA
driver", "device_ids ... only work with ... GPU modules"). That blocks
``tools/dist_train.sh`` on CPU machines, e.g. to check multi-process
behaviour in CI. :func:`gtsa_plugin.apis.runner.load_config` applies the
fixes below when a launcher is used and CUDA is unavailable.
"""
from __future__ import annotations

import atexit

import torch

__all__ = ['install_cpu_distributed_init', 'cpu_model_wrapper_cfg']

_INSTALLED = False


def install_cpu_distributed_init() -> None:
    """Make mmengine's ``init_dist('pytorch', ...)`` skip
    ``torch.cuda.set_device`` when CUDA is unavailable (other accelerators
    and GPU machines keep mmengine's code). Idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    import mmengine.dist.utils as dist_utils
    import torch.distributed as torch_dist
    original = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch' or any(
                check() for check in (dist_utils.is_mlu_available,
                                      dist_utils.is_npu_available,
                                      dist_utils.is_musa_available)):
            return original(backend, init_backend=init_backend, **kwargs)
        if isinstance(kwargs.get('timeout'), (int, float)):
            # env_cfg.dist_cfg.timeout is in seconds, as for mmengine's own
            # init_dist.
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        torch_dist.init_process_group(backend=backend, **kwargs)
        # mmengine never destroys the process group; gloo's threads then
        # die during interpreter teardown and now and then abort a rank
        # ("terminate called without an active exception", SIGABRT) after
        # training has finished.
        atexit.register(_destroy_process_group)

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    _INSTALLED = True


def _destroy_process_group() -> None:
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


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
