"""Checkpoints are untrusted input: every way the plugin and its tools read
one (``--resume``, ``load_from``, ``init_cfg`` ``Pretrained`` and
``SSLPretrained``, the model converters and visualisation tools) loads with
``weights_only=True`` and our allow-list. A checkpoint whose pickle would
run code is refused with an error naming the file, and its payload (create
a marker file) never runs."""
from __future__ import annotations

import os
import os.path as osp
import re

import evil_checkpoint_helpers as ev
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch

from gtsa_plugin.utils.checkpoint import UnsafeCheckpointError, safe_load


@pytest.fixture(autouse=True)
def _pretrain_scope():
    with ip.pretrain_scope():
        yield


@pytest.fixture
def evil(tmp_path):
    """``make(kind) -> (path, marker)``."""

    def make(kind: str):
        marker = str(tmp_path / f'{kind}.marker')
        path = ev.write_evil_checkpoint(str(tmp_path / f'{kind}.pth'), kind,
                                        marker)
        return path, marker

    return make


@pytest.mark.parametrize('kind', [k for k, v in ev.EVIL_KINDS.items() if v])
def test_payloads_are_real(kind, evil):
    """Control: loaded the unsafe way, these files do run their code."""
    path, marker = evil(kind)
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


@pytest.mark.parametrize('kind', list(ev.EVIL_KINDS))
def test_safe_load_refuses_naming_the_file(kind, evil):
    path, marker = evil(kind)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert path in str(info.value)
    assert not osp.exists(marker)


@pytest.mark.parametrize('kind', ['getattr_history_buffer_init',
                                  'getattr_class', 'raw_getattr_opcodes'])
def test_getattr_is_bound_to_history_buffer_statistics(kind, evil):
    """``builtins.getattr`` is allowed only as a stand-in that resolves
    ``HistoryBuffer.<statistics method>``; any other attribute is refused
    before it is looked up."""
    path, _ = evil(kind)
    with pytest.raises(UnsafeCheckpointError, match='is not allowed in a '
                       'checkpoint|Unsupported global|unrecognized'):
        safe_load(path)


def test_mmengine_loaders_go_through_the_allow_list(evil):
    """The loaders behind resume, load_from and init_cfg."""
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    path, marker = evil('getattr_torch_global')
    for load in (_load_checkpoint, CheckpointLoader.load_checkpoint):
        with pytest.raises(UnsafeCheckpointError, match=re.escape(path)):
            load(path, map_location='cpu')
    assert not osp.exists(marker)


def _tiny_vit(init_cfg: dict):
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(
        type='VisionTransformer', arch=dict(embed_dims=32, num_layers=1,
                                            num_heads=2,
                                            feedforward_channels=64),
        img_size=32, patch_size=16, init_cfg=init_cfg))


@pytest.mark.parametrize('init_type', ['Pretrained', 'SSLPretrained'])
def test_init_cfg_refuses(init_type, evil):
    path, marker = evil('reduce_exec')
    model = _tiny_vit(dict(type=init_type, checkpoint=path))
    with pytest.raises(UnsafeCheckpointError, match=re.escape(path)):
        model.init_weights()
    assert not osp.exists(marker)


def test_plugin_and_tools_never_unpickle_without_the_allow_list():
    """Static guard: no ``weights_only=False``, ``pickle.load`` or bare
    ``torch.load`` (which would skip the file-naming error) outside
    ``gtsa_plugin/utils/checkpoint.py``."""
    offenders = []
    pattern = re.compile(r'weights_only\s*=\s*False|pickle\.loads?\(|'
                         r'torch\.load\(|joblib\.load|dill\.load')
    for top in ('gtsa_plugin', 'tools'):
        for dirpath, _, files in os.walk(osp.join(rp.REPO_ROOT, top)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = osp.join(dirpath, name)
                rel = osp.relpath(path, rp.REPO_ROOT)
                if rel == osp.join('gtsa_plugin', 'utils', 'checkpoint.py'):
                    continue
                with open(path) as f:
                    for no, line in enumerate(f, 1):
                        code = line.split('#')[0]
                        if pattern.search(code) and '``' not in code:
                            offenders.append(f'{rel}:{no}: {line.strip()}')
    assert not offenders, '\n'.join(offenders)


@pytest.mark.slow
@pytest.mark.parametrize('entry', ['resume', 'load_from'])
def test_train_cli_refuses(entry, evil, synthetic_scenes, tmp_path):
    """``tools/train.py --resume EVIL`` and ``--cfg-options
    load_from=EVIL``: the run stops with the file named, nothing executed."""
    kind = ('reduce_exec' if entry == 'resume' else
            'getattr_history_buffer_init')
    path, marker = evil(kind)
    options = pr.tiny_options(synthetic_scenes['unlabeled'])
    args = ()
    if entry == 'resume':
        args = ('--resume', path)
    else:
        options.append(f'load_from={path}')
    with pytest.raises(UnsafeCheckpointError,
                       match=f'Refused to load checkpoint {re.escape(path)}'):
        ip.train_in_process(rp.GTSA_DEMO, str(tmp_path / 'work'), options,
                            *args)
    assert not osp.exists(marker)


@pytest.mark.parametrize('tool', sorted(ip.checkpoint_tools()))
def test_checkpoint_tools_refuse(tool, evil, synthetic_scenes, tmp_path):
    """Every model converter and visualisation tool that takes a
    checkpoint, given one whose pickle runs code, run as ``__main__``."""
    path, marker = evil('getattr_torch_global')
    image = osp.join(synthetic_scenes['unlabeled'],
                     sorted(os.listdir(synthetic_scenes['unlabeled']))[0])
    out = tmp_path / 'out'
    out.mkdir()
    args = [a.format(ckpt=path, out=out, image=image)
            for a in ip.checkpoint_tools()[tool]]
    with pytest.raises((UnsafeCheckpointError, SystemExit)) as info:
        ip.run_tool_in_process(tool, args)
    if isinstance(info.value, SystemExit):  # a tool that reports and exits
        assert info.value.code not in (0, None)
    assert path in str(info.value)
    assert not osp.exists(marker)
    assert not any(f.endswith('.pth') for _, _, files in os.walk(out)
                   for f in files)
