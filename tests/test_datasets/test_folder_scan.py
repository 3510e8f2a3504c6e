"""The data folder lists exactly its real image files, once; everything
else is named in the log (issue #12, cases 1-4).

Case 1: links back to a parent (``sub/up -> ..``, ``a -> .``) are not
followed twice; a scan of two such links used never to end.
Case 2: a FIFO named ``f.jpg`` is not an image (opening it blocks).
Case 3: file names that are not UTF-8 reach the work-dir log.
Case 4: ``data_root`` that is a file, and a mistyped path ending in
``/unlabeled``, fail naming the path; synthetic scenes are generated only
for the demo's own folder, and the log says so.
"""
from __future__ import annotations

import os
import os.path as osp
import threading
import uuid

import pytest
from mmengine.logging import MMLogger
from PIL import Image

from gtsa_plugin.datasets.image_folder import (SYNTHETIC_DEFAULT_ROOT,
                                               UnlabeledImageFolder,
                                               check_image_folder)

BROKEN_NAME = b'\xff_broken.jpg'


def _images(folder, names=('a.jpg', 'b.png', 'sub/c.jpg')):
    for name in names:
        path = osp.join(folder, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.new('RGB', (16, 12), (10, 20, 30)).save(path)
    return sorted(names)


def _logger(tmp_path):
    """A fresh current MMLogger writing to a file, as a Runner's."""
    os.makedirs(tmp_path.parent / 'logs', exist_ok=True)
    log_file = str(tmp_path.parent / 'logs' / f'{uuid.uuid4().hex}.log')
    MMLogger.get_instance(f'scan-{uuid.uuid4().hex}', log_file=log_file)
    return log_file


def _read(log_file):
    for handler in MMLogger.get_current_instance().handlers:
        handler.flush()
    with open(log_file, encoding='utf-8') as f:
        return f.read()


def _listed(folder):
    dataset = UnlabeledImageFolder(data_root=str(folder), pipeline=[])
    return sorted(osp.relpath(dataset.get_data_info(i)['img_path'],
                              str(folder)) for i in range(len(dataset)))


def test_link_to_a_parent_lists_each_image_once(tmp_path):
    names = _images(str(tmp_path))
    os.symlink('..', tmp_path / 'sub' / 'up')
    log_file = _logger(tmp_path)
    assert _listed(tmp_path) == names  # not 123 entries
    assert 'sub/up' in _read(log_file)


def test_two_links_to_the_folder_itself_end(tmp_path):
    names = _images(str(tmp_path))
    os.symlink('.', tmp_path / 'a_link')
    os.symlink('.', tmp_path / 'b_link')
    result = {}
    # The old scan never ended: run it where a hang fails the test.
    worker = threading.Thread(
        target=lambda: result.update(listed=_listed(tmp_path)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), 'scan of a -> ., b -> . did not end'
    assert result['listed'] == names


def test_fifo_named_like_an_image_is_not_listed(tmp_path):
    names = _images(str(tmp_path))
    os.mkfifo(tmp_path / 'f.jpg')
    log_file = _logger(tmp_path)
    assert _listed(tmp_path) == names
    log = _read(log_file)
    assert 'not regular files' in log and 'f.jpg' in log


def test_names_that_are_not_utf8_reach_the_log(tmp_path):
    _images(str(tmp_path), ('good.jpg', ))
    folder = os.fsencode(str(tmp_path))
    with open(osp.join(folder, BROKEN_NAME), 'wb') as f:
        f.write(b'not a jpeg')  # unreadable: skipped with a warning
    with open(osp.join(folder, b'\xfe_notes.txt'), 'wb') as f:
        f.write(b'x')
    log_file = _logger(tmp_path)
    dataset = UnlabeledImageFolder(
        data_root=str(tmp_path), pipeline=[dict(type='LoadImageRGB')])
    broken = [i for i in range(len(dataset))
              if 'broken' in dataset.get_data_info(i)['img_path']]
    assert len(dataset) == 2 and len(broken) == 1
    with pytest.warns(UserWarning, match='skipping unreadable image'):
        assert dataset[broken[0]] is not None  # replaced by the good one
    log = _read(log_file)
    assert '\\xfe_notes.txt' in log  # the "ignored other files" line
    assert 'skipping unreadable image' in log and '\\xff_broken.jpg' in log


def test_data_root_that_is_a_file(tmp_path):
    path = tmp_path / 'photo.jpg'
    _images(str(tmp_path), ('photo.jpg', ))
    with pytest.raises(NotADirectoryError, match='is a file, not a folder'):
        check_image_folder(str(path), dict(num_images=2, seed=0))
    unlabeled = tmp_path / 'x' / 'unlabeled'
    unlabeled.parent.mkdir()
    unlabeled.write_text('a file')
    with pytest.raises(NotADirectoryError, match=str(unlabeled)):
        check_image_folder(str(unlabeled), dict(num_images=2, seed=0))


def test_typo_ending_in_unlabeled_never_generates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / 'my_photos_typo' / 'unlabeled'
    with pytest.raises(FileNotFoundError) as info:
        check_image_folder(str(typo), dict(num_images=2, seed=0))
    assert str(typo) in str(info.value)
    assert 'train_dataloader.dataset.data_root' in str(info.value)
    assert not (tmp_path / 'my_photos_typo').exists()


def test_demo_folder_is_generated_and_the_log_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log_file = _logger(tmp_path)
    synthetic = dict(num_images=2, seed=0, image_size=(64, 48))
    dataset = UnlabeledImageFolder(data_root=SYNTHETIC_DEFAULT_ROOT,
                                   synthetic_if_missing=synthetic)
    assert len(dataset) >= 1  # the generator's train split
    log = _read(log_file)
    assert 'generated synthetic scenes' in log and 'made-up data' in log
    assert 'SYNTHETIC scenes' in log  # said on every build, not only once
