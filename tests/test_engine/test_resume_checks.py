"""``--resume``: a work dir is self-contained, a damaged last checkpoint
is named and skipped, and a run that cannot continue the checkpoint stops
before the model is built (issue #12, cases 9, 10, 12, 13, 15).

Checkpoints come from real demo runs (GTSA: 4 images, batch 4, two epochs
of one iteration; DINO: one epoch); the checks run through
``gtsa_plugin.apis.cli.preflight`` and mmengine's Runner.
"""
from __future__ import annotations

import os
import os.path as osp
import shutil
import uuid

import image_helpers as im
import inprocess_helpers as ip
import process_helpers as pr
import pytest
import repo_helpers as rp
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from gtsa_plugin.apis.cli import apply_resume, load_config, preflight
from gtsa_plugin.apis.resume import find_latest_checkpoint
from gtsa_plugin.utils.checkpoint import safe_load

pytestmark = pytest.mark.slow


def _options(data, name='gtsa', epochs=2):
    return pr.tiny_options(data, epochs=epochs, **pr.FEW_CROPS[name])


@pytest.fixture(scope='module')
def runs(synthetic_scenes, tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    data = im.tiny_folder(synthetic_scenes['unlabeled'], str(root / 'data'),
                          4)
    out = dict(data=data, root=root)
    for name, config, epochs in (('gtsa', rp.GTSA_DEMO, 2),
                                 ('dino', rp.DINO_DEMO, 1)):
        work_dir = str(root / name)
        with ip.pretrain_scope():
            ip.train_in_process(config, work_dir,
                                _options(data, name, epochs))
        out[name] = work_dir
    return out


def _cfg(runs, work_dir, resume='auto', config=rp.GTSA_DEMO, name='gtsa',
         **extra):
    # parsed as on the command line
    options = {k: DictAction._parse_iterable(v) for k, v in (
        o.split('=', 1) for o in _options(runs['data'], name))}
    options.update(extra)
    cfg = load_config(config, options, work_dir)
    apply_resume(cfg, resume)
    return cfg


def _copy(runs, name='gtsa') -> str:
    dst = str(runs['root'] / f'copy-{uuid.uuid4().hex[:6]}')
    shutil.copytree(runs[name], dst)
    return dst


def _log_to(tmp_path) -> str:
    log_file = str(tmp_path / f'{uuid.uuid4().hex}.log')
    MMLogger.get_instance(f'resume-{uuid.uuid4().hex}', log_file=log_file)
    return log_file


def test_last_checkpoint_is_relative(runs):
    with open(osp.join(runs['gtsa'], 'last_checkpoint')) as f:
        assert f.read().strip() == 'epoch_2.pth'
    info = safe_load(osp.join(runs['gtsa'], 'epoch_2.pth'))['meta']
    assert info['run_info'] == dict(algorithm='GTSA', batch_size=4,
                                    world_size=1)


def test_moved_work_dir_resumes_from_its_own_files(runs):
    moved = _copy(runs) + '-moved'
    os.rename(_copy(runs), moved)
    assert find_latest_checkpoint(moved) == osp.join(moved, 'epoch_2.pth')
    cfg = _cfg(runs, moved)
    preflight(cfg)
    assert cfg.resume is True


def test_copied_work_dir_never_resumes_from_the_original(runs):
    """A ``cp -r`` of a work dir written before #12: ``last_checkpoint``
    holds the ORIGINAL's absolute path, which still exists."""
    copy = _copy(runs)
    with open(osp.join(copy, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(runs['gtsa'], 'epoch_2.pth'))
    assert find_latest_checkpoint(copy) == osp.join(copy, 'epoch_2.pth')


def test_bare_resume_in_an_empty_work_dir_starts_from_scratch(tmp_path,
                                                              runs):
    log_file = _log_to(tmp_path)
    cfg = _cfg(runs, str(tmp_path / 'empty'))
    preflight(cfg)
    assert cfg.resume is False  # mmengine logs no "checkpoint None"
    with open(log_file) as f:
        assert 'training starts from scratch' in f.read()


def test_truncated_last_checkpoint(runs, tmp_path):
    copy = _copy(runs)
    last = osp.join(copy, 'epoch_2.pth')
    with open(last, 'r+b') as f:  # a full disk, a partial copy
        f.truncate(os.path.getsize(last) // 2)
    # Named, for an explicit --resume PATH ...
    with pytest.raises(RuntimeError) as info:
        preflight(_cfg(runs, copy, resume=last))
    assert last in str(info.value) and 'damaged' in str(info.value)
    # ... skipped with a warning for a bare --resume: the run continues
    # from epoch 1 and writes a good epoch 2.
    with pytest.warns(UserWarning, match='epoch_2.pth'):
        assert find_latest_checkpoint(copy) == osp.join(copy, 'epoch_1.pth')
    with ip.pretrain_scope():
        ip.train_in_process(rp.GTSA_DEMO, copy, _options(runs['data']),
                            '--resume')
    log = pr.logs(copy)
    assert f'Auto resumed from the latest checkpoint ' \
        f'{osp.join(copy, "epoch_1.pth")}' in log
    assert 'cannot be loaded' in log
    assert safe_load(last)['meta']['epoch'] == 2


def test_other_batch_size_stops_naming_it(runs):
    with pytest.raises(ValueError) as info:
        preflight(_cfg(runs, _copy(runs),
                       **{'train_dataloader.batch_size': 2}))
    pr.assert_names(str(info.value), [
        'train_dataloader.batch_size=4 x 1 process',
        'train_dataloader.batch_size=2 x 1 process', 'epoch_2.pth'])


def test_other_number_of_processes_stops_naming_it(runs, monkeypatch):
    cfg = _cfg(runs, _copy(runs), **{'train_dataloader.batch_size': 1})
    cfg.launcher = 'pytorch'
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(ValueError) as info:
        preflight(cfg)
    pr.assert_names(str(info.value), ['batch_size=4 x 1 process',
                                      'batch_size=1 x 2 process'])
    # The same total batch on 2 processes: the same iterations per epoch.
    cfg = _cfg(runs, _copy(runs), **{'train_dataloader.batch_size': 2})
    cfg.launcher = 'pytorch'
    preflight(cfg)


def test_checkpoint_of_another_algorithm(runs):
    with pytest.raises(ValueError) as info:
        preflight(_cfg(runs, _copy(runs), resume=osp.join(
            runs['dino'], 'epoch_1.pth')))
    pr.assert_names(str(info.value), ['written by a DINO run',
                                      "model.type='GTSA'", 'epoch_1.pth'])
