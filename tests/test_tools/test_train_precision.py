"""tools/train.py on a machine without a GPU: the fp16 ViT-S config trains
in fp32 with one warning; an explicit fp16/bf16 request fails before the
model is built."""
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from gtsa_plugin.apis.precision import (PrecisionUnavailableError,
                                        amp_device_available)

pytestmark = pytest.mark.skipif(
    amp_device_available(), reason='behaviour of machines without a GPU')


def _two_images(synthetic_scenes, tmp_path):
    folder = synthetic_scenes['unlabeled']
    data = tmp_path / 'images'
    data.mkdir()
    for name in sorted(os.listdir(folder))[:2]:
        shutil.copy(osp.join(folder, name), data)
    return data


def _options(data_root):
    # One epoch of one iteration: 2 images, batch 2; no 300 MB checkpoint.
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_last=False'
    ]


@pytest.mark.slow
def test_vit_s_coco_config_trains_in_fp32_with_one_warning(
        repo_root, synthetic_scenes, tmp_path):
    work_dir = tmp_path / 'work'
    cmd = [
        sys.executable, osp.join(repo_root, 'tools/train.py'),
        osp.join(repo_root, 'configs/gtsa_vit-s_coco.py'), '--work-dir',
        str(work_dir), *_options(_two_images(synthetic_scenes, tmp_path))
    ]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert out.count('PrecisionFallbackWarning') == 1, out[-3000:]
    assert 'Pass --precision fp32 to silence' in out
    assert 'AmpOptimizerWrapper' not in out

    # The run used the plain wrapper: the dumped config says so ...
    dumped = (work_dir / 'gtsa_vit-s_coco.py').read_text()
    assert "type='PerParamClipOptimWrapper'" in dumped
    assert 'loss_scale' not in dumped
    # ... and it made one finite optimiser step.
    scalars = list(work_dir.glob('*/vis_data/scalars.json'))
    assert len(scalars) == 1
    rows = [json.loads(line) for line in scalars[0].read_text().splitlines()]
    rows = [r for r in rows if 'loss' in r]
    assert [r['iter'] for r in rows] == [1]
    for key in ('loss', 'loss_crop', 'loss_rot', 'grad_norm'):
        assert math.isfinite(rows[0][key]), key


@pytest.mark.parametrize('switch', [['--precision', 'fp16'], ['--amp'],
                                    ['--precision', 'bf16']])
def test_forced_amp_fails_before_the_model_is_built(
        repo_root, tool_module, synthetic_scenes, tmp_path, switch):
    train = tool_module('tools/train.py')
    work_dir = tmp_path / 'work'
    argv = [
        osp.join(repo_root, 'configs/gtsa_vit-s_coco.py'), '--work-dir',
        str(work_dir), *switch,
        *_options(_two_images(synthetic_scenes, tmp_path))
    ]
    with pytest.raises(PrecisionUnavailableError) as err:
        train.main(argv)
    assert ' '.join(switch) in str(err.value)
    assert '--precision fp32' in str(err.value)
    # mmengine's Runner creates the work dir before it builds the model.
    assert not work_dir.exists()


def test_amp_and_another_precision_conflict(tool_module, capsys):
    train = tool_module('tools/train.py')
    with pytest.raises(SystemExit):
        train.parse_args(['cfg.py', '--amp', '--precision', 'bf16'])
    assert '--amp' in capsys.readouterr().err
