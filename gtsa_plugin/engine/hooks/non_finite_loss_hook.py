"""Stop training at the first non-finite loss term, naming it."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from mmpretrain.registry import HOOKS

try:
    from mmdet.engine.hooks import CheckInvalidLossHook
except ImportError:
    # No mmdet, or mmcv without compiled ops (mmdet.engine.hooks imports
    # mmcv.ops): pretraining must still import. What this hook uses of
    # mmdet's base: a Hook that stores ``interval``.
    from mmengine.hooks import Hook

    class CheckInvalidLossHook(Hook):  # type: ignore[no-redef]

        def __init__(self, interval: int = 50) -> None:
            self.interval = interval


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names it and the
    iteration."""


def _as_float(value) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            # A per-sample loss: any bad entry is what matters.
            value = value.detach().float()
            bad = value[~torch.isfinite(value)]
            return float(bad[0]) if bad.numel() else float(value.mean())
        return float(value.detach())
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class NonFiniteLossHook(CheckInvalidLossHook):
    """mmdet's :class:`CheckInvalidLossHook`, per loss term and with a
    message.

    mmdet's hook asserts on the total ``loss`` only, every 50 iterations,
    and its message is lost (``logger.info`` returns ``None``). This one
    checks, every ``interval`` iterations (default: every one), each term
    of the runner's outputs whose name contains ``loss`` (the terms the
    total is summed from; the message hub's ``train/loss*`` scalars when the
    outputs are not passed) and raises :class:`NonFiniteLossError` naming
    the iteration, the epoch and the non-finite terms.

    It runs before :class:`CheckpointHook` (``priority='VERY_HIGH'``), so the
    diverged weights are never written: the last checkpoint stays the last
    good one, and ``--resume`` restarts from it. The reference
    implementations stop the same way (``sys.exit(1)`` on a non-finite
    loss).

    Args:
        interval: Check every ``interval`` training iterations.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'NonFiniteLossHook: interval must be >= 1, got '
                             f'{interval}')
        super().__init__(interval=interval)

    @staticmethod
    def _loss_terms(runner, outputs: Optional[dict]) -> Dict[str, float]:
        terms: Dict[str, float] = {}
        if outputs:
            for key, value in outputs.items():
                if 'loss' in key:
                    as_float = _as_float(value)
                    if as_float is not None:
                        terms[key] = as_float
            return terms
        for key, buffer in runner.message_hub.log_scalars.items():
            if key.startswith('train/') and 'loss' in key:
                terms[key[len('train/'):]] = float(buffer.current())
        return terms

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        terms = self._loss_terms(runner, outputs)
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        if not bad:
            return
        # The total is the sum of the terms: name the culprits first.
        culprits = [k for k in bad if k != 'loss'] or list(bad)
        fine = {k: v for k, v in terms.items() if k not in bad}
        last_ckpt = runner.message_hub.get_info('last_ckpt')
        message = (
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): '
            + ', '.join(f'{k}={bad[k]}' for k in culprits)
            + (f' (total loss={bad["loss"]})' if 'loss' in bad
               and culprits != ['loss'] else '')
            + ('; finite terms: ' + ', '.join(
                f'{k}={v:.4g}' for k, v in fine.items()) if fine else '')
            + '. Training stopped before this iteration could be '
            'checkpointed; the last good checkpoint is '
            + (f'{last_ckpt} (continue with --resume, e.g. after lowering the '
               'learning rate or enabling gradient clipping)'
               if last_ckpt else 'none (no checkpoint was written yet)')
            + '.')
        runner.logger.error(message)
        raise NonFiniteLossError(message)
