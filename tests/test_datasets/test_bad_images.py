"""Folders of real-world images: odd modes are converted and used,
undecodable files are skipped (or, with ``strict=True``, fail) naming the
file, and the number of images each epoch really used is logged."""
from __future__ import annotations

import os.path as osp

import image_helpers as im
import inprocess_helpers as ip
import numpy as np
import process_helpers as pr
import pytest
import repo_helpers as rp
import torch
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from gtsa_plugin.datasets import UnlabeledImageFolder
from gtsa_plugin.datasets.transforms.loading import (UnreadableImageError,
                                                     read_rgb)

pytestmark = pytest.mark.filterwarnings('ignore:skipping unreadable image')


@pytest.fixture(autouse=True)
def _pretrain_scope():
    with ip.pretrain_scope():
        yield


# The demo's crops (96/48 px), so tiny and extreme images really get
# upsampled / squeezed.
PIPELINE = [
    dict(type='LoadImageRGB'),
    dict(type='GTSAMultiCrop', crop_sizes=(96, 48), num_crops=(2, 2),
         scales=((0.3, 1.0), (0.1, 0.3)), min_overlap=0.01, size_divisor=8),
    dict(type='PackInputs', algorithm_keys=['crop_boxes', 'crop_rotations'],
         meta_keys=['img_path']),
]


def _index_of(dataset, name: str) -> int:
    return next(i for i in range(len(dataset))
                if dataset.get_data_info(i)['img_path'].endswith(name))


@pytest.fixture(scope='module')
def bad_folder(tmp_path_factory) -> dict:
    return im.write_bad_images(str(tmp_path_factory.mktemp('bad_images')))


@pytest.mark.parametrize('name', im.UNREADABLE)
def test_unreadable_files_raise_naming_the_file(bad_folder, name):
    with pytest.raises(UnreadableImageError) as info:
        read_rgb(bad_folder[name])
    assert bad_folder[name] in str(info.value)
    assert info.value.path == bad_folder[name]


@pytest.mark.parametrize('name', im.READABLE)
def test_readable_modes_become_uint8_rgb(bad_folder, name):
    rgb = read_rgb(bad_folder[name])
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


def test_conversions_keep_the_picture(bad_folder):
    # EXIF orientation 6: stored 64x48 (w x h) -> shown 48x64, the stored
    # top-left (red) corner at the top right.
    rot = read_rgb(bad_folder['exif_rotated.jpg'])
    assert rot.shape == (64, 48, 3)
    r, g, b = rot[1:6, -6:-1].reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60
    # 16-bit gray: the full 16-bit range maps onto 0..255, not clipped.
    g16 = read_rgb(bad_folder['gray16.png'])
    assert g16[0, 0].tolist() == [255, 255, 255]
    assert g16[0, 1, 0] == round(21 / 257)  # ~0, not 21 (clipped) or 255
    assert 100 < g16[24, 32, 0] < 140  # mid-range stays mid-range
    # Gray, palette, RGBA and CMYK: the same scene, close to its colours.
    gray = read_rgb(bad_folder['gray.png'])
    assert (gray[..., 0] == gray[..., 1]).all()
    ref = im.scene(48, 64, 2).astype(float)
    for name, tol in (('rgba.png', 1), ('palette.png', 40),
                      ('cmyk.jpg', 40)):
        diff = np.abs(read_rgb(bad_folder[name]).astype(float) - ref).mean()
        assert diff < tol, (name, diff)
    assert read_rgb(bad_folder['tall_20x2000.png']).shape == (2000, 20, 3)
    assert read_rgb(bad_folder['small.png']).shape == (10, 12, 3)


def test_dataset_skips_with_forked_workers_and_counts(bad_folder, tmp_path):
    """Through a real DataLoader with 2 forked workers: every index yields a
    sample (replacements for unreadable files), the shared counters see
    every worker's loads and skips, and the warnings name the files."""
    log_file = str(tmp_path / 'workers.log')
    # The workers log through the current MMLogger: make it one with a file.
    MMLogger.get_instance(f'bad_images_{tmp_path.name}', log_file=log_file)
    dataset = UnlabeledImageFolder(
        data_root=osp.dirname(bad_folder['gray.png']), pipeline=PIPELINE)
    assert len(dataset) == len(im.UNREADABLE) + len(im.READABLE)
    loader = DataLoader(dataset, batch_size=4, num_workers=2,
                        multiprocessing_context='fork',
                        collate_fn=lambda batch: batch)
    samples = [s for batch in loader for s in batch]
    assert len(samples) == len(dataset)
    for sample in samples:
        assert len(sample['inputs']) == 4
        assert sample['inputs'][0].shape == (3, 96, 96)
        assert sample['inputs'][2].shape == (3, 48, 48)
        assert osp.basename(sample['data_samples'].img_path) in im.READABLE
    stats = dataset.pop_stats()
    assert stats['loaded'] == len(dataset)
    assert stats['skipped'] >= len(im.UNREADABLE)
    assert dataset.pop_stats() == dict(loaded=0, skipped=0)  # reset
    with open(log_file) as f:
        out = f.read()
    pr.assert_names(out, [bad_folder[n] for n in im.UNREADABLE])
    assert 'unreadable skipped so far this epoch' in out


def test_strict_raises_naming_the_file_through_workers(bad_folder):
    dataset = UnlabeledImageFolder(
        data_root=osp.dirname(bad_folder['gray.png']), pipeline=PIPELINE,
        strict=True)
    index = _index_of(dataset, 'zero_bytes.jpg')
    with pytest.raises(UnreadableImageError, match='zero_bytes.jpg'):
        dataset[index]
    # In a worker: PyTorch re-raises it in the main process, type and file
    # name intact.
    loader = DataLoader(torch.utils.data.Subset(dataset, [index]),
                        num_workers=1, multiprocessing_context='fork',
                        collate_fn=lambda batch: batch)
    batches = iter(loader)
    with pytest.raises(UnreadableImageError, match='zero_bytes.jpg'):
        next(batches)
    # Now, not when the garbage collector finalises the iterator (which
    # blocks for seconds in whatever test runs then).
    batches._shutdown_workers()


def test_replacement_and_crops_are_seeded_per_sample(bad_folder):
    """With per-sample seeding (EpochSeedHook turns it on) a sample's crops,
    including the replacement drawn for an unreadable file, depend only on
    (seed, epoch, index): not on the global RNG state or the worker."""
    dataset = UnlabeledImageFolder(
        data_root=osp.dirname(bad_folder['gray.png']), pipeline=PIPELINE)
    bad = _index_of(dataset, 'corrupt.jpg')
    dataset.set_sample_seed(123, epoch=4)
    first = dataset[bad]
    np.random.seed(99)  # global state must not matter
    torch.manual_seed(99)
    again = dataset[bad]
    assert first['data_samples'].img_path == again['data_samples'].img_path
    for a, b in zip(first['inputs'], again['inputs']):
        assert torch.equal(a, b)
    # And the global state is left as it was (the model's streams).
    state = np.random.get_state()[1].copy()
    dataset[bad]
    assert (np.random.get_state()[1] == state).all()
    dataset.set_sample_seed(123, epoch=5)
    other_epoch = dataset[bad]
    assert not all(torch.equal(a, b) for a, b in
                   zip(first['inputs'], other_epoch['inputs']))


@pytest.fixture(scope='module')
def mixed_folder(bad_folder, synthetic_scenes, tmp_path_factory) -> str:
    """Every awkward file plus 3 good scenes: 16 files, 4 batches of 4."""
    data = str(tmp_path_factory.mktemp('mixed'))
    im.tiny_folder(osp.dirname(bad_folder['gray.png']), data, 100)
    im.tiny_folder(synthetic_scenes['unlabeled'], data, 3)
    return data


@pytest.mark.slow
def test_training_on_a_bad_folder_skips_warns_and_counts(mixed_folder,
                                                         tmp_path):
    """The GTSA demo through tools/train.py with 2 forked, persistent
    dataloader workers, on a folder with every kind of awkward file: it
    trains; the log names each unreadable file with a running count; and
    DataStatsHook, fed by counters shared with the workers, logs the number
    of images really used (16 = 4 batches of 4)."""
    work_dir = str(tmp_path / 'work')
    ip.train_in_process(rp.GTSA_DEMO, work_dir, pr.tiny_options(
        mixed_folder, epochs=1, num_workers=2, **pr.FEW_CROPS['gtsa']))
    log = pr.logs(work_dir)
    for name in im.UNREADABLE:
        path = osp.join(mixed_folder, name)
        assert f'skipping unreadable image {path}' in log, name
    assert 'unreadable skipped so far this epoch' in log
    rows = [r for r in pr.scalars(work_dir) if 'images_used' in r]
    assert rows and rows[-1]['images_used'] == 16
    assert rows[-1]['images_skipped'] >= len(im.UNREADABLE)
    assert 'Epoch 1: 16 images used' in log


@pytest.mark.slow
def test_strict_option_fails_on_the_first_unreadable_file(mixed_folder,
                                                          tmp_path):
    """``--cfg-options train_dataloader.dataset.strict=True`` (2 dataloader
    workers): training stops with an error naming an unreadable file and
    how to skip such files instead."""
    with pytest.raises(UnreadableImageError) as info:
        ip.train_in_process(rp.GTSA_DEMO, str(tmp_path / 'work'),
                            pr.tiny_options(
                                mixed_folder, epochs=1, num_workers=2,
                                **{'train_dataloader.dataset.strict': True}))
    message = str(info.value)
    assert any(f'cannot read image {osp.join(mixed_folder, name)}' in message
               for name in im.UNREADABLE), message
    assert 'train_dataloader.dataset.strict=False' in message
