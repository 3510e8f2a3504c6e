"""Pretraining needs neither mmdet nor mmseg (#16): with both absent,
``import gtsa_plugin`` works and tools/train.py trains the GTSA and DINO
demos; only the downstream configs need the toolkits. (The packages are
hidden, not uninstalled: their metadata stays, so mmengine's own message for
an absent toolkit in a downstream config is not what this checks.)"""
from __future__ import annotations

import sys

import image_helpers as im
import process_helpers as pr
import pytest
import repo_helpers as rp
from hidden_modules import hide

HIDDEN = ['mmdet', 'mmseg']


@pytest.fixture
def no_toolkits(tmp_path) -> dict:
    return hide(HIDDEN, str(tmp_path / 'hidden'), pr.env())


@pytest.mark.slow
@pytest.mark.parametrize('algo', ['gtsa', 'dino'])
def test_demo_trains_without_mmdet_and_mmseg(algo, no_toolkits,
                                             synthetic_scenes, tmp_path):
    config = rp.GTSA_DEMO if algo == 'gtsa' else rp.DINO_DEMO
    data = im.tiny_folder(synthetic_scenes['unlabeled'],
                          str(tmp_path / 'data'), 4)
    work_dir = tmp_path / 'work'
    options = pr.tiny_options(data, batch_size=2, **pr.FEW_CROPS[algo], **{
        'model.backbone.arch.num_layers': 1})
    out = pr.run(pr.train_cmd(config, str(work_dir), options),
                 env=no_toolkits)
    assert out.returncode == 0, pr.tail(out.stdout + out.stderr)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert any('loss' in row for row in pr.scalars(str(work_dir)))


def test_hiding_works(no_toolkits):
    for name in HIDDEN:
        out = pr.run([sys.executable, '-c', f'import {name}'], env=no_toolkits)
        assert out.returncode != 0 and 'hidden by the test' in out.stderr
