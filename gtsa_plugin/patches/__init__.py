"""Import-time patches of the pinned upstream libraries.

One module per patched library; each says which upstream version and which
bug or limitation it targets, and when it can be deleted:

* :mod:`.mmengine_checkpoint`: safe (``weights_only``) checkpoint loading and
  atomic checkpoint saving (mmengine 0.10.7, torch >= 2.6);
* :mod:`.mmcv_transforms`: ``adjust_hue`` under numpy 2 (mmcv 2.1.0);
* :mod:`.mmengine_config`: ``mmdet::``/``mmseg::`` base configs without
  ``pkg_resources`` (mmengine 0.10.7);
* :mod:`.mmengine_dist`: distributed init on CPU-only machines, slurm
  included (mmengine 0.10.7). Not part of :func:`apply`: the command line
  (:func:`gtsa_plugin.apis.cli.load_config`) installs it when a launcher is
  used without CUDA.

The reusable code the patches install (``safe_load`` and its allow-list,
``atomic_save_checkpoint``) lives in :mod:`gtsa_plugin.utils`.
"""
from . import mmcv_transforms, mmengine_checkpoint, mmengine_config

__all__ = ['apply']


def apply() -> None:
    """Apply the import-time patches, in this order (idempotent)."""
    mmengine_checkpoint.apply()  # safe loading, then atomic saving
    mmcv_transforms.apply()
    mmengine_config.apply()  # mmdet::/mmseg:: base configs
