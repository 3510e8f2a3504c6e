from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         safe_load)

__all__ = ['CorruptCheckpointError', 'UnsafeCheckpointError', 'safe_load']
