from .gtsa import GTSA

__all__ = ['GTSA']

from .dino import DINO, DINODistributedDataParallel  # noqa: E402

__all__ += ['DINO', 'DINODistributedDataParallel']
