"""Stop training at the first non-finite loss term, naming it."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names it and the
    iteration."""


class NonFiniteGradientError(NonFiniteLossError):
    """Gradients were NaN or infinite (the step was skipped on the device);
    the message names the iteration."""


class NonFiniteStateError(NonFiniteLossError):
    """A checkpoint about to be written holds NaN/inf weights or optimiser
    state; it is not written."""


def _last_good(runner) -> str:
    last_ckpt = runner.message_hub.get_info('last_ckpt')
    return (f'{last_ckpt} (continue with --resume, e.g. after lowering the '
            'learning rate or enabling gradient clipping)'
            if last_ckpt else 'none (no checkpoint was written yet)')


def _tensors(tree, prefix: str = ''):
    """``(name, floating tensor)`` pairs in nested dicts/lists."""
    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point() or tree.is_complex():
            yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _tensors(value, f'{prefix}.{key}' if prefix else
                                str(key))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _tensors(value, f'{prefix}.{i}' if prefix else str(i))


def non_finite_entries(tree) -> list:
    """Names of the tensors in ``tree`` holding a NaN or inf (one sync)."""
    named = list(_tensors(tree))
    if not named:
        return []
    flags = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist()
    return [name for (name, _), ok in zip(named, flags) if not ok]


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
class NonFiniteLossHook(Hook):
    """mmdet's :class:`CheckInvalidLossHook`, per loss term and with a
    message (a plain mmengine :class:`Hook`: importing it never imports
    mmdet).

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

    Gradients: a full-precision optimiser wrapper of this plugin skips
    steps with non-finite gradients on the device
    (:mod:`gtsa_plugin.engine.optimizers.finite_guard`); at the same points
    this hook reads the count and raises :class:`NonFiniteGradientError`
    naming the iteration (the weights are those before it). Before any
    checkpoint is written, every weight (student and teacher) and the
    optimiser state are checked: a poisoned checkpoint is refused
    (:class:`NonFiniteStateError`), so "the last good checkpoint" is good.

    Args:
        interval: Check every ``interval`` training iterations.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'NonFiniteLossHook: interval must be >= 1, got '
                             f'{interval}')
        self.interval = interval

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
            # The loss is finite; its gradient may still not be.
            self._check_gradients(runner)
            return
        # The total is the sum of the terms: name the culprits first.
        culprits = [k for k in bad if k != 'loss'] or list(bad)
        fine = {k: v for k, v in terms.items() if k not in bad}
        message = (
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): '
            + ', '.join(f'{k}={bad[k]}' for k in culprits)
            + (f' (total loss={bad["loss"]})' if 'loss' in bad
               and culprits != ['loss'] else '')
            + ('; finite terms: ' + ', '.join(
                f'{k}={v:.4g}' for k, v in fine.items()) if fine else '')
            + '. Training stopped before this iteration could be '
            'checkpointed; the last good checkpoint is ' + _last_good(runner)
            + '.')
        runner.logger.error(message)
        raise NonFiniteLossError(message)

    def after_train_epoch(self, runner) -> None:
        # Before CheckpointHook (priority): skipped steps since the last
        # check stop the run before the epoch's checkpoint.
        self._check_gradients(runner)

    def _check_gradients(self, runner) -> None:
        pop = getattr(runner.optim_wrapper, 'pop_nonfinite_steps', None)
        report = pop() if callable(pop) else None
        if report is None:
            return
        skipped, first, steps = report
        iteration = runner.iter + 1 - (steps - first)
        message = (
            f'Non-finite gradients at iteration {iteration} (epoch '
            f'{runner.epoch + 1})' + (f' and {skipped - 1} later iteration(s)'
                                      if skipped > 1 else '')
            + ', although the loss was finite: the optimizer step was '
            'skipped, so weights and optimizer state are those before it. '
            'Training stopped; the last good checkpoint is '
            + _last_good(runner) + '.')
        runner.logger.error(message)
        raise NonFiniteGradientError(message)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write weights, teacher or optimiser state holding NaN
        or inf."""
        bad = non_finite_entries({k: checkpoint.get(k) for k in
                                  ('state_dict', 'optimizer')
                                  if checkpoint.get(k) is not None})
        if not bad:
            return
        message = (
            f'Refusing to save a checkpoint at iteration {runner.iter} (epoch '
            f'{runner.epoch + 1}): {len(bad)} tensors hold NaN/inf values ('
            + ', '.join(bad[:5]) + (' ...' if len(bad) > 5 else '')
            + '). The last good checkpoint is ' + _last_good(runner) + '.')
        runner.logger.error(message)
        raise NonFiniteStateError(message)
