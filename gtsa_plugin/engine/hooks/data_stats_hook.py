"""Logs how many images each epoch really used and skipped."""
from __future__ import annotations

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

_TOTAL_KEY = 'images_skipped_total'


def _unwrap_dataset(dataset):
    # Wrappers (RepeatDataset, ConcatDataset ...) keep the real one inside.
    while not hasattr(dataset, 'pop_stats') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset if hasattr(dataset, 'pop_stats') else None


@HOOKS.register_module()
class DataStatsHook(Hook):
    """After every train epoch, log ``images used`` and ``skipped`` of an
    :class:`UnlabeledImageFolder` and record them as ``train/images_used`` /
    ``train/images_skipped``; the skip count also accumulates over the run
    as ``train/images_skipped_total``.

    The counts cover all dataloader workers (shared counters) and, in
    distributed runs, all ranks (summed). The running total is kept in the
    message hub's runtime info, which checkpoints save, so a resumed run
    continues it instead of starting from 0.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.total_skipped = 0

    def before_train(self, runner) -> None:
        # After load_or_resume: a resumed message hub holds the old total.
        self.total_skipped = int(runner.message_hub.get_info(_TOTAL_KEY, 0))

    def after_train_epoch(self, runner) -> None:
        dataset = _unwrap_dataset(runner.train_dataloader.dataset)
        if dataset is None:
            return
        stats = dataset.pop_stats()
        counts = torch.tensor([stats['loaded'], stats['skipped']],
                              dtype=torch.int64)
        all_reduce(counts, op='sum')  # no-op unless distributed
        loaded, skipped = (int(v) for v in counts)
        self.total_skipped += skipped
        hub = runner.message_hub
        hub.update_info(_TOTAL_KEY, self.total_skipped)
        hub.update_scalar('train/images_used', loaded)
        hub.update_scalar('train/images_skipped', skipped)
        hub.update_scalar('train/images_skipped_total', self.total_skipped)
        # The logger hook only writes the hub's scalars with the next
        # iteration, i.e. never for the last epoch: write them now as well.
        runner.visualizer.add_scalars(
            dict(epoch=runner.epoch + 1, images_used=loaded,
                 images_skipped=skipped,
                 images_skipped_total=self.total_skipped),
            step=runner.iter)
        runner.logger.info(
            f'Epoch {runner.epoch + 1}: {loaded} images used, '
            f'{skipped} unreadable skipped '
            f'({self.total_skipped} skipped so far)')
