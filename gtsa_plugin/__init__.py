"""GTSA (arXiv 2304.08014) for the OpenMMLab stack.

Importing this package registers its algorithms, necks, heads, losses,
transforms, datasets and hooks into mmpretrain's registries (and the
downstream adapters into mmdet's and mmseg's), and makes mmengine's checkpoint
loaders work with ``torch.load(weights_only=True)`` and its checkpoint
writes atomic, among other patches of the pinned upstream libraries (see
:mod:`gtsa_plugin.patches`).
"""
from . import patches
from .version import __version__

patches.apply()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from .apis.resume import install_latest_checkpoint_resolution  # noqa: E402

# --resume: the work dir's own newest loadable checkpoint.
install_latest_checkpoint_resolution()

__all__ = ['__version__']
