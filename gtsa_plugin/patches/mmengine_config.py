"""Patch: mmengine resolves ``'mmdet::...'`` config paths without
pkg_resources.

Upstream: mmengine 0.10.7 (``mmengine.config.config``).

Configs of this repo inherit from the toolkits' own base configs, e.g.
``_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']``. mmengine 0.10.x
finds the installed package (and its ``.mim/configs`` folder) with
``pkg_resources``, which setuptools >= 81 no longer ships and Python >= 3.12
virtual environments do not install at all; ``Config.fromfile`` then fails
with ``ModuleNotFoundError: No module named 'pkg_resources'``.

:func:`install_external_config_resolution` swaps the two helpers mmengine's
config parser calls (``is_installed`` and ``get_installed_path``, as bound in
``mmengine.config.config``) for ``importlib.metadata`` equivalents. It must
run before ``Config.fromfile``. It applies whether or not ``pkg_resources``
is importable: with setuptools 80 importing it prints a deprecation warning
(at every ``import gtsa_plugin`` when this patch probed for it, and at every
``mmdet::`` config otherwise), and one code path is the one the tests run.

Delete when mmengine finds installed packages without ``pkg_resources``
(``importlib.metadata``).
"""
from __future__ import annotations

import importlib.util
import os.path as osp
from importlib import metadata
from typing import List

__all__ = ['apply', 'install_external_config_resolution']

_INSTALLED = False


def _module_candidates(package: str) -> List[str]:
    """Importable top-level names of distribution ``package`` (pip name),
    e.g. ``'mmsegmentation'`` -> ``['mmsegmentation', 'mmseg']``."""
    names = [package]
    try:
        top_level = metadata.distribution(package).read_text('top_level.txt')
    except metadata.PackageNotFoundError:
        top_level = None
    names += [n.strip() for n in (top_level or '').splitlines() if n.strip()]
    return names


def is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without pkg_resources."""
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without pkg_resources: the
    folder of the package's top-level module."""
    for name in _module_candidates(package):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            return osp.dirname(spec.origin)
    raise ModuleNotFoundError(f'cannot locate the installed package '
                              f'{package!r}')


def install_external_config_resolution() -> None:
    """Patch mmengine's config parser (never imports ``pkg_resources``).
    Idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    import mmengine.config.config as config_module
    config_module.is_installed = is_installed
    config_module.get_installed_path = get_installed_path
    _INSTALLED = True


def apply() -> None:
    """See :func:`install_external_config_resolution`."""
    install_external_config_resolution()
