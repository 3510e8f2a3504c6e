"""Debug aid: per-rank digests of the model state, gathered to one file."""
from __future__ import annotations

import hashlib
import json
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence, Union

import torch
from mmengine.dist import all_gather_object, get_rank, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

#: What the default groups cover (key prefixes of the model's state dict):
#: the EMA teacher, the student, DINO's centre.
DEFAULT_GROUPS: Dict[str, Sequence[str]] = {
    'teacher': ('target_net.', ),
    'student': ('backbone.', 'neck.'),
    'center': ('head.center', ),
}


def state_digest(state: Mapping[str, torch.Tensor],
                 prefixes: Optional[Sequence[str]] = None) -> dict:
    """A byte-exact digest of the tensors of ``state`` (keys starting with
    one of ``prefixes``, all when None): ``sha256`` over sorted keys, dtypes,
    shapes and raw bytes, plus ``sum`` (float64) and ``count`` for humans
    and tolerant comparisons."""
    sha = hashlib.sha256()
    total, count = 0.0, 0
    for key in sorted(state):
        value = state[key]
        if not isinstance(value, torch.Tensor):
            continue
        if prefixes is not None and not key.startswith(tuple(prefixes)):
            continue
        tensor = value.detach().cpu().contiguous()
        sha.update(f'{key}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        if tensor.is_floating_point():
            total += float(tensor.double().sum())
        count += 1
    return dict(sha256=sha.hexdigest(), sum=total, count=count)


@HOOKS.register_module()
class RankConsistencyHook(Hook):
    """Record, on every rank, digests of the model state (teacher, student,
    DINO centre, whole state dict) and the files of the batch, gather them
    and append one JSON line per recorded iteration to
    ``work_dir/out_file`` (rank 0 writes).

    A debugging aid for distributed and resumed runs, off by default. Add
    it in a config that inherits the one to check::

        _base_ = ['gtsa_vit-tiny_demo.py']
        custom_hooks = _base_.custom_hooks + [
            dict(type='RankConsistencyHook', iters=[2])]

    (``--cfg-options`` cannot append to a list). Ranks are in sync
    when every field but ``data`` is equal across ``ranks``; a run resumed
    from a checkpoint replayed the original when its lines equal the
    original's for the same ``iter``. A final line (``"final": true``) after
    training holds the state that the last checkpoint saved.

    Args:
        iters: 1-based iterations to record; None records every one.
        out_file: File name below ``work_dir`` (JSON lines, appended).
        groups: Name -> state-dict key prefixes to digest separately; the
            whole state dict is always digested as ``state``.
        record_data: Also record the batch's image file names.
    """

    priority = 'LOW'  # after the optimiser step and the EMA update

    def __init__(self,
                 iters: Optional[Sequence[int]] = None,
                 out_file: str = 'rank_sync.jsonl',
                 groups: Optional[Dict[str, Union[str, Sequence[str]]]] = None,
                 record_data: bool = True) -> None:
        self.iters = None if iters is None else {int(i) for i in iters}
        self.out_file = out_file
        groups = DEFAULT_GROUPS if groups is None else groups
        self.groups = {
            name: (p, ) if isinstance(p, str) else tuple(p)
            for name, p in groups.items()
        }
        self.record_data = record_data

    def _model_state(self, runner) -> dict:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        return model.state_dict()

    def _record(self, runner, extra: dict, data_batch=None) -> None:
        state = self._model_state(runner)
        mine = dict(rank=get_rank(), **extra)
        for name, prefixes in self.groups.items():
            digest = state_digest(state, prefixes)
            if digest['count']:
                mine[name] = digest
        mine['state'] = state_digest(state)
        if self.record_data and data_batch is not None:
            samples = data_batch.get('data_samples') or []
            mine['data'] = [
                osp.basename(str(s.metainfo.get('img_path', '')))
                for s in samples
            ]
        gathered = all_gather_object(mine)  # every rank must take part
        if is_main_process():
            line = dict(extra, ranks=gathered)
            path = osp.join(runner.work_dir, self.out_file)
            with open(path, 'a') as f:
                f.write(json.dumps(line) + '\n')
                f.flush()

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        it = runner.iter + 1
        if self.iters is not None and it not in self.iters:
            return
        self._record(runner, dict(iter=it, epoch=runner.epoch + 1),
                     data_batch)

    def after_train(self, runner) -> None:
        self._record(runner, dict(iter=runner.iter, final=True))
