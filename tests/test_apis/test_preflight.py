"""A missing or empty data folder fails before the model is built, naming
the path (``gtsa_plugin.apis.cli.preflight``, called by tools/train.py
before it builds the Runner)."""
from __future__ import annotations

import os

import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
from mmengine.config import Config

from gtsa_plugin.apis.cli import load_config, preflight


def _cfg(data_root) -> Config:
    return load_config(rp.GTSA_DEMO, {
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.synthetic_if_missing': None,
    })


def _empty_folder(path) -> str:
    (path / 'sub').mkdir(parents=True)
    (path / 'sub' / 'notes.txt').write_text('not an image')
    return str(path)


def test_missing_and_empty_folders_fail_naming_the_path(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='folder not found') as info:
        preflight(_cfg(missing))
    assert missing in str(info.value)
    assert 'train_dataloader.dataset.data_root' in str(info.value)

    empty = _empty_folder(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='no images') as info:
        preflight(_cfg(empty))
    assert empty in str(info.value)


def test_wrapped_datasets_are_checked_and_good_folders_pass(
        tmp_path, synthetic_scenes):
    preflight(_cfg(synthetic_scenes['unlabeled']))  # no error
    cfg = _cfg(synthetic_scenes['unlabeled'])
    inner = cfg.train_dataloader.dataset
    inner.data_root = str(tmp_path / 'nope')
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2,
                                        dataset=inner)
    with pytest.raises(FileNotFoundError, match='nope'):
        preflight(cfg)


def test_datasets_without_a_check_are_left_alone():
    # mmpretrain's ImageNet has no preflight: the Runner reports its errors.
    cfg = Config(dict(default_scope='mmpretrain', train_dataloader=dict(
        dataset=dict(type='ImageNet', data_root='/nonexistent'))))
    preflight(cfg)


@pytest.mark.parametrize('case', ['missing', 'empty'])
def test_train_cli_fails_before_building_the_runner(case, tmp_path):
    """tools/train.py: the error names the folder, and no Runner was built
    (it would have created ``work_dir/<timestamp>/`` for its log before
    building the model)."""
    data = (str(tmp_path / 'nope') if case == 'missing' else
            _empty_folder(tmp_path / 'empty'))
    work_dir = tmp_path / 'work'
    with pytest.raises(FileNotFoundError) as info:
        ip.train_in_process(rp.GTSA_DEMO, str(work_dir), pr.tiny_options(
            data, **{'train_dataloader.dataset.synthetic_if_missing': None}))
    assert data in str(info.value)
    assert not work_dir.exists() or not os.listdir(work_dir)
