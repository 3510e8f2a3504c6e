"""Patch: mmengine's distributed init on CPU-only machines (gloo), slurm
included.

Upstream: mmengine 0.10.7 (``mmengine.dist.utils._init_dist_pytorch`` and
``_init_dist_slurm``).

mmengine's PyTorch and Slurm launcher paths call
``torch.cuda.set_device(local_rank)`` before ``init_process_group`` and build
``DistributedDataParallel`` with ``device_ids=[local_rank]``; both fail
without a GPU ("Found no NVIDIA driver", "device_ids ... only work with ...
GPU modules"). That blocks ``tools/dist_train.sh`` and
``tools/slurm_train.sh`` on CPU machines, e.g. to check multi-process
behaviour in CI. Not applied on import: :func:`gtsa_plugin.apis.cli.
load_config` installs it (and :func:`gtsa_plugin.apis.cli.
cpu_model_wrapper_cfg`) when a launcher is used and CUDA is unavailable.

Delete when mmengine's launchers skip ``torch.cuda.set_device`` without a
GPU (not the case up to 0.10.7).
"""
from __future__ import annotations

import atexit
import datetime
import os
import subprocess
from typing import Optional

import torch

__all__ = ['apply', 'install_cpu_distributed_init', 'slurm_env_to_torch']

_INSTALLED = False


def _has_accelerator(dist_utils) -> bool:
    return torch.cuda.is_available() or any(
        check() for check in (dist_utils.is_mlu_available,
                              dist_utils.is_npu_available,
                              dist_utils.is_musa_available))


def _init_process_group(backend: str, **kwargs) -> None:
    import torch.distributed as torch_dist
    if isinstance(kwargs.get('timeout'), (int, float)):
        # env_cfg.dist_cfg.timeout is in seconds, as for mmengine's own
        # init_dist; torch wants a timedelta.
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    torch_dist.init_process_group(backend=backend, **kwargs)
    # mmengine never destroys the process group; gloo's threads then die
    # during interpreter teardown and now and then abort a rank
    # ("terminate called without an active exception", SIGABRT) after
    # training has finished. The CLI's teardown, at exit, without waiting
    # for the other ranks (a failed rank may never get there).
    from ..apis.cli import shutdown_distributed
    atexit.register(shutdown_distributed, wait_for_all_ranks=False)


def slurm_env_to_torch(port: Optional[int] = None) -> None:
    """Set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` from Slurm's task variables, as mmengine's Slurm launcher
    does: ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` (0 when
    absent), the first host of ``SLURM_NODELIST`` (``scontrol show
    hostname``) unless ``MASTER_ADDR`` is set, and ``port``, else
    ``MASTER_PORT``, else 29500.

    Raises:
        KeyError: naming ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_NODELIST``
            when the process was not started by ``srun``.
    """
    for key in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'):
        if key not in os.environ:
            raise KeyError(f'--launcher slurm: {key} is not set; start the '
                           'job with srun (tools/slurm_train.sh)')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def install_cpu_distributed_init() -> None:
    """Make mmengine's ``init_dist('pytorch' | 'slurm', ...)`` skip
    ``torch.cuda.set_device`` when CUDA is unavailable (other accelerators
    and GPU machines keep mmengine's code). Idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    import mmengine.dist.utils as dist_utils
    original_pytorch = dist_utils._init_dist_pytorch
    original_slurm = dist_utils._init_dist_slurm

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if init_backend != 'torch' or _has_accelerator(dist_utils):
            return original_pytorch(backend, init_backend=init_backend,
                                    **kwargs)
        _init_process_group(backend, **kwargs)

    def _init_dist_slurm(backend, port=None, init_backend='torch',
                         **kwargs) -> None:
        if init_backend != 'torch' or _has_accelerator(dist_utils):
            return original_slurm(backend, port=port,
                                  init_backend=init_backend, **kwargs)
        slurm_env_to_torch(port)
        _init_process_group(backend, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    dist_utils._init_dist_slurm = _init_dist_slurm
    _INSTALLED = True


def apply() -> None:
    """See :func:`install_cpu_distributed_init`."""
    install_cpu_distributed_init()
