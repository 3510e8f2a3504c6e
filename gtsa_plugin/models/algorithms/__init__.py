from .gtsa import GTSA

__all__ = ['GTSA']
