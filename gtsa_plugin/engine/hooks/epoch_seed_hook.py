"""Reseed every epoch from (seed, epoch) so resumed runs replay exactly."""
from __future__ import annotations

from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...utils.seeding import derive_seed, seed_everything

# Fixed salts keep the streams apart from each other.
_EPOCH_STREAM, _DATA_STREAM, _ITER_STREAM = 0, 1, 2


def _unwrap_dataset(dataset):
    while not hasattr(dataset, 'set_sample_seed') and hasattr(
            dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset if hasattr(dataset, 'set_sample_seed') else None


def _sampler_of(dataloader):
    sampler = getattr(dataloader, 'sampler', None)
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    inner = getattr(batch_sampler, 'sampler', None)
    # mmengine's DefaultSampler hides behind a BatchSampler.
    return inner if hasattr(inner, 'seed') else sampler


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make epoch ``e`` of a run independent of what came before it.

    mmengine seeds the RNGs once when the Runner is built and does not save
    their states in checkpoints, so after ``--resume`` the augmentations and
    drop-path masks differ from those of an uninterrupted run (and the data
    order too when ``randomness.seed`` is None: the sampler's seed is drawn
    before the checkpoint's seed is restored). Before every train epoch this
    hook

    * seeds ``random``, numpy and torch in the main process from
      ``(seed, epoch)``, and again before every iteration from ``(seed,
      iteration)``: model randomness (drop path, dropout) then does not
      depend on how much the data loading drew at the start of the epoch
      (a new DataLoader iterator draws its workers' base seed from torch's
      RNG; persistent workers reuse theirs, so a resumed run would draw
      once more than the uninterrupted one);
    * tells a dataset with ``set_sample_seed`` (:class:`UnlabeledImageFolder`)
      to seed each sample from ``(seed, epoch, index)`` (augmentations, in
      any worker, persistent or not);
    * sets the sampler's ``seed`` to the run's seed, so the data order of
      epoch ``e`` is a function of ``(seed, e)`` only (``DefaultSampler``
      shuffles with ``seed + epoch``), unless the config sets
      ``train_dataloader.sampler.seed`` itself.

    ``seed`` is ``runner.seed``: the configured one, or the checkpoint's
    after a resume. With ``randomness.diff_rank_seed=True`` the model and
    data streams differ per rank, the data order does not (it must be
    shared for the sampler to split it).

    A run resumed from an epoch checkpoint then trains exactly as the
    uninterrupted run did (CPU; on GPUs only up to nondeterministic kernels).
    Seeding costs microseconds per iteration.

    Args:
        seed_model: Reseed the main process's RNGs (every epoch and
            iteration).
        seed_samples: Seed samples of datasets that support it.
        seed_sampler: Set the sampler's seed to the run's seed.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, seed_model: bool = True, seed_samples: bool = True,
                 seed_sampler: bool = True) -> None:
        self.seed_model = seed_model
        self.seed_samples = seed_samples
        self.seed_sampler = seed_sampler

    @staticmethod
    def _run_seed(runner) -> int:
        seed = int(runner.seed)
        if (getattr(runner, '_randomness_cfg', None) or {}).get(
                'diff_rank_seed', False):
            seed -= get_rank()  # set_random_seed added it; undo for sharing
        return seed % 2**31

    @staticmethod
    def _rank_key(runner) -> int:
        if (getattr(runner, '_randomness_cfg', None) or {}).get(
                'diff_rank_seed', False):
            return get_rank()
        return 0

    def epoch_seed(self, runner, stream: int,
                   epoch: Optional[int] = None) -> int:
        """The seed of ``stream`` in ``epoch`` (default: the current one)."""
        epoch = runner.epoch if epoch is None else epoch
        return derive_seed(self._run_seed(runner), epoch, stream,
                           self._rank_key(runner))

    @staticmethod
    def _sampler_seed_configured(runner) -> bool:
        # An explicit train_dataloader.sampler.seed is the user's choice.
        cfg = getattr(runner, 'cfg', None) or {}
        sampler_cfg = (cfg.get('train_dataloader') or {}).get('sampler') or {}
        return isinstance(sampler_cfg, dict) and \
            sampler_cfg.get('seed') is not None

    def before_train_epoch(self, runner) -> None:
        dataloader = runner.train_dataloader
        if self.seed_sampler and not self._sampler_seed_configured(runner):
            sampler = _sampler_of(dataloader)
            if sampler is not None and hasattr(sampler, 'seed'):
                sampler.seed = self._run_seed(runner)
        if self.seed_samples:
            dataset = _unwrap_dataset(dataloader.dataset)
            if dataset is not None:
                dataset.set_sample_seed(
                    self.epoch_seed(runner, _DATA_STREAM, epoch=0),
                    runner.epoch)
        if self.seed_model:
            seed_everything(self.epoch_seed(runner, _EPOCH_STREAM))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.seed_model:
            seed_everything(derive_seed(self._run_seed(runner), runner.iter,
                                        _ITER_STREAM,
                                        self._rank_key(runner)))
