"""GTSA (arXiv 2304.08014) for the OpenMMLab stack.

Importing this package registers its algorithms, necks, heads, losses,
transforms, datasets and hooks into mmpretrain's registries (and the
downstream adapters into mmdet's and mmseg's), and makes mmengine's checkpoint
loaders work with ``torch.load(weights_only=True)`` and its checkpoint
writes atomic (see :mod:`gtsa_plugin.utils.atomic_save`).
"""
from .utils import compat
from .utils.atomic_save import install_atomic_checkpoint_saving
from .utils.checkpoint import install_safe_checkpoint_loading
from .utils.config_compat import install_external_config_resolution
from .version import __version__

install_safe_checkpoint_loading()
install_atomic_checkpoint_saving()
compat.apply()
install_external_config_resolution()  # mmdet::/mmseg:: base configs

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from .apis.resume import install_latest_checkpoint_resolution  # noqa: E402

# --resume: the work dir's own newest loadable checkpoint.
install_latest_checkpoint_resolution()

__all__ = ['__version__']
