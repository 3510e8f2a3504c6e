from .atomic_checkpoint_hook import AtomicCheckpointHook
from .data_stats_hook import DataStatsHook
from .epoch_seed_hook import EpochSeedHook
from .non_finite_loss_hook import (NonFiniteGradientError, NonFiniteLossError,
                                   NonFiniteLossHook, NonFiniteStateError)
from .rank_consistency_hook import RankConsistencyHook, state_digest

__all__ = [
    'AtomicCheckpointHook', 'DataStatsHook', 'EpochSeedHook',
    'NonFiniteGradientError',
    'NonFiniteLossError', 'NonFiniteStateError',
    'NonFiniteLossHook', 'RankConsistencyHook', 'state_digest'
]
