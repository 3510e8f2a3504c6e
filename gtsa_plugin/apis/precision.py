"""One switch for the numeric precision of training: fp32, fp16 or bf16.

mmengine expresses precision through the optimiser wrapper: ``OptimWrapper``
trains in fp32, ``AmpOptimWrapper`` runs the forward pass under autocast
(``dtype='float16'`` by default, or ``'bfloat16'``) with a ``GradScaler``
(``loss_scale``). :func:`apply_precision` rewrites ``cfg.optim_wrapper``
accordingly, so ``tools/train.py --precision`` / ``--amp`` and
``tools/benchmark.py --precision`` share one rule:

========= ======================================================
fp32      the plain twin of the config's wrapper; the AMP-only keys
          ``loss_scale``, ``dtype`` and ``use_fsdp`` are dropped
fp16      the AMP twin, ``dtype='float16'``, ``loss_scale`` kept
          when the config already used fp16, else ``'dynamic'``
bf16      the AMP twin, ``dtype='bfloat16'``, ``loss_scale=1.0``
          (bf16 has fp32's range: no scaling; mmengine always keeps a
          ``GradScaler``, and a static scale of 1 makes it a no-op)
========= ======================================================

mmengine's ``AmpOptimWrapper`` refuses to be built without an accelerator
(a bare assertion, raised after the model is built). Here, without one, a
config that asks for fp16/bf16 trains in fp32 with one warning, and an
explicit request fails before anything is built, naming the switch.
"""
from __future__ import annotations

import warnings
from typing import Optional, Union

from mmengine.config import Config

PRECISIONS = ('fp32', 'fp16', 'bf16')

# Plain optim wrappers and their mixed-precision twins.
AMP_TWINS = {
    'OptimWrapper': 'AmpOptimWrapper',
    'PerParamClipOptimWrapper': 'PerParamClipAmpOptimWrapper',
}
_FP32_TWINS = {amp: plain for plain, amp in AMP_TWINS.items()}
# AmpOptimWrapper's own arguments: OptimWrapper refuses them.
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')
_DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}


class PrecisionFallbackWarning(UserWarning):
    """The config asked for mixed precision on a machine without a GPU."""


class PrecisionUnavailableError(RuntimeError):
    """``--precision fp16/bf16`` (or ``--amp``) on a machine without a GPU."""


def amp_device_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can be built here (CUDA, or
    one of the NPU/MLU/MUSA devices mmengine also accepts)."""
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return bool(is_cuda_available() or is_npu_available()
                or is_mlu_available() or is_musa_available())


def _type_name(wrapper: dict) -> str:
    kind = wrapper.get('type', 'OptimWrapper')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__',
                                                      str(kind))
    return name.split('.')[-1]  # 'mmengine.AmpOptimWrapper' -> the class


def _is_amp_type(name: str) -> bool:
    if name in _FP32_TWINS:
        return True
    if name in AMP_TWINS:
        return False
    from mmengine.optim import AmpOptimWrapper
    from mmengine.registry import OPTIM_WRAPPERS
    cls = OPTIM_WRAPPERS.get(name)
    return isinstance(cls, type) and issubclass(cls, AmpOptimWrapper)


def config_precision(cfg: Config) -> str:
    """The precision ``cfg.optim_wrapper`` asks for: ``'fp32'`` for a plain
    wrapper (or none), ``'bf16'`` for an AMP wrapper with
    ``dtype='bfloat16'``, else ``'fp16'``."""
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict) or not _is_amp_type(_type_name(wrapper)):
        return 'fp32'
    dtype = wrapper.get('dtype')
    return 'bf16' if str(dtype).replace('torch.', '') == 'bfloat16' \
        else 'fp16'


def _twin(wrapper: dict, want_amp: bool, switch: str) -> Union[str, type]:
    name = _type_name(wrapper)
    if _is_amp_type(name) == want_amp:
        return wrapper.get('type', name)  # as written, scope included
    table = AMP_TWINS if want_amp else _FP32_TWINS
    if name not in table:
        raise KeyError(
            f'{switch}: optim_wrapper.type={name!r} has no '
            f'{"mixed-precision" if want_amp else "fp32"} twin known to '
            f'gtsa_plugin.apis.precision; expected one of {sorted(table)}')
    return table[name]


def set_optim_wrapper_precision(cfg: Config,
                                precision: str,
                                switch: Optional[str] = None) -> None:
    """Rewrite ``cfg.optim_wrapper`` (in place) for ``precision``, by the
    table in this module's docstring, whatever device this machine has
    (:func:`apply_precision` adds the device checks).

    Args:
        cfg: A config with an ``optim_wrapper`` dict.
        precision: ``'fp32'``, ``'fp16'`` or ``'bf16'``.
        switch: Named in error messages (default ``--precision PRECISION``).

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
        KeyError: ``optim_wrapper`` is missing, or its ``type`` has no twin
            of the requested kind (e.g. a custom wrapper).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'--precision {precision!r}: expected one of '
                         f'{list(PRECISIONS)}')
    switch = switch or f'--precision {precision}'
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise KeyError(f'{switch}: the config has no optim_wrapper')
    asked = config_precision(cfg)
    wrapper['type'] = _twin(wrapper, precision != 'fp32', switch)
    if precision == 'fp32':
        for key in AMP_ONLY_KEYS:
            wrapper.pop(key, None)
        return
    wrapper['dtype'] = _DTYPES[precision]
    if precision == 'bf16':
        wrapper['loss_scale'] = 1.0
    elif asked != 'fp16' or 'loss_scale' not in wrapper:
        wrapper['loss_scale'] = 'dynamic'


def apply_precision(cfg: Config,
                    precision: Optional[str] = None,
                    switch: Optional[str] = None) -> str:
    """Set the training precision of ``cfg`` (in place) and return it.

    Args:
        cfg: A config with ``optim_wrapper`` (a config without one trains
            nothing: it is left alone and reported as ``'fp32'``).
        precision: ``'fp32'``, ``'fp16'``, ``'bf16'``, or ``None`` for what
            the config asks (see :func:`config_precision`).
        switch: How the request reached us, for messages (default
            ``'--precision <precision>'``; ``tools/train.py`` passes
            ``'--amp'`` for its ``--amp`` flag).

    Returns:
        The precision in effect: ``precision``, or the config's, which is
        ``'fp32'`` after the fallback described below.

    Warns:
        PrecisionFallbackWarning: once, when ``precision`` is ``None``, the
            config asks for fp16/bf16 and there is no GPU: the config is
            switched to fp32.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
        PrecisionUnavailableError: ``precision`` is fp16/bf16 and there is
            no GPU (before anything is built).
        KeyError: ``optim_wrapper`` is missing, or its ``type`` has no twin
            of the requested kind.
    """
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f'--precision {precision!r}: expected one of '
                         f'{list(PRECISIONS)}')
    switch = switch or f'--precision {precision}'
    wrapper = cfg.get('optim_wrapper')
    asked = config_precision(cfg)
    if precision is None:
        if asked == 'fp32' or amp_device_available():
            return asked
        warnings.warn(
            f'optim_wrapper.type={_type_name(wrapper)!r} asks for {asked} '
            f'mixed precision, which needs a CUDA GPU; none here, so this '
            f'run trains in fp32 (--precision {asked} would fail instead). '
            f'Pass --precision fp32 to silence this warning.',
            PrecisionFallbackWarning, stacklevel=2)
        precision, switch = 'fp32', 'fp32 fallback'
    elif precision != 'fp32' and not amp_device_available():
        raise PrecisionUnavailableError(
            f'{switch} needs a CUDA GPU (mmengine\'s AmpOptimWrapper) and '
            f'none is available here; use --precision fp32'
            f'{" (drop --amp)" if switch == "--amp" else ""}')
    if precision == 'fp32' and not isinstance(wrapper, dict):
        return 'fp32'  # e.g. a test-only config
    set_optim_wrapper_precision(cfg, precision, switch)
    return precision
