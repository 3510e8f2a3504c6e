"""Logs how many images each epoch really used and skipped."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def _unwrap_dataset(dataset):
    # Wrappers (RepeatDataset, ConcatDataset ...) keep the real one inside.
    while not hasattr(dataset, 'pop_stats') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset if hasattr(dataset, 'pop_stats') else None


@HOOKS.register_module()
class DataStatsHook(Hook):
    """After every train epoch, log ``images loaded`` and ``skipped`` of an
    :class:`UnlabeledImageFolder` (counted across dataloader workers) and
    record them as ``train/images_used`` / ``train/images_skipped``; the
    skip count also accumulates over the run as ``train/images_skipped_total``.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.total_skipped = 0

    def after_train_epoch(self, runner) -> None:
        dataset = _unwrap_dataset(runner.train_dataloader.dataset)
        if dataset is None:
            return
        stats = dataset.pop_stats()
        self.total_skipped += stats['skipped']
        hub = runner.message_hub
        hub.update_scalar('train/images_used', stats['loaded'])
        hub.update_scalar('train/images_skipped', stats['skipped'])
        hub.update_scalar('train/images_skipped_total', self.total_skipped)
        runner.logger.info(
            f'Epoch {runner.epoch}: {stats["loaded"]} images used, '
            f'{stats["skipped"]} unreadable skipped '
            f'({self.total_skipped} skipped so far)')
