"""GTSA (arXiv 2304.08014) for the OpenMMLab stack.

Importing this package registers its algorithms, necks, heads, losses,
transforms, datasets and hooks into mmpretrain's registries (and the
downstream adapters into mmdet's and mmseg's), and makes mmengine's checkpoint
loaders work with ``torch.load(weights_only=True)``.
"""
from .utils import compat
from .utils.checkpoint import install_safe_checkpoint_loading
from .version import __version__

install_safe_checkpoint_loading()
compat.apply()

from . import datasets, engine, models  # noqa: E402,F401  (registration)

__all__ = ['__version__']
