"""tools/analysis/plot_log.py."""
from __future__ import annotations

import json
import os.path as osp

import pytest
from PIL import Image

TOOL = 'tools/analysis/plot_log.py'
KEYS = ['loss_crop', 'loss_pc', 'loss_rot', 'acc_rot']


def write_run(work_dir, stamp: str, iters, offset: float = 0.0) -> None:
    """A run folder as mmengine's LocalVisBackend writes it (plus one
    validation-style row without ``iter``)."""
    folder = work_dir / stamp / 'vis_data'
    folder.mkdir(parents=True)
    with open(folder / 'scalars.json', 'w') as f:
        for it in iters:
            row = dict(lr=1e-3, loss_crop=-it / 10 + offset, loss_pc=0.0,
                       loss_rot=1.0 + offset, acc_rot=0.25, epoch=1,
                       iter=it, step=it)
            f.write(json.dumps(row) + '\n')
        f.write(json.dumps(dict(accuracy=0.5, step=1)) + '\n')


def png_size(path) -> tuple:
    assert osp.getsize(path) > 0
    with Image.open(path) as img:
        assert img.format == 'PNG'
        return img.size


def test_runs_and_resumes_are_joined_in_time_order(tool_module, tmp_path):
    plot_log = tool_module(TOOL)
    work = tmp_path / 'work'
    # Run 1 logged iterations 1-6; it was resumed from its iteration-4
    # checkpoint (run 2 logs 5-8 again, offset values), then run 3 goes on.
    write_run(work, '20240101_120000', range(1, 7))
    write_run(work, '20240101_130000', range(5, 9), offset=100.0)
    write_run(work, '20240102_090000', range(9, 11), offset=200.0)
    out = tmp_path / 'curves.png'
    curves = plot_log.main([str(work), '--keys', *KEYS, '--out', str(out)])
    xs = [x for x, _ in curves['loss_crop']]
    assert xs == list(range(1, 11))  # each iteration once
    values = dict(curves['loss_rot'])
    assert values[4] == 1.0 and values[5] == 101.0 and values[9] == 201.0
    assert png_size(out) == (
        int(round(plot_log.FIG_WIDTH * plot_log.DPI)),
        int(round((plot_log.ROW_HEIGHT * 4 + 0.4) * plot_log.DPI)))
    _, starts, files = plot_log.load_curves(str(work), KEYS)
    assert starts == [5, 9] and len(files) == 3


def test_missing_keys(tool_module, tmp_path, capsys):
    plot_log = tool_module(TOOL)
    work = tmp_path / 'work'
    write_run(work, '20240101_120000', range(1, 4))
    out = tmp_path / 'curves.png'
    curves = plot_log.main([str(work), '--keys', 'loss_crop', 'loss_xyz',
                            '--out', str(out)])
    assert curves['loss_xyz'] == [] and out.is_file()
    assert 'loss_xyz is not in the logs' in capsys.readouterr().err
    with pytest.raises(SystemExit, match='logged keys'):
        plot_log.main([str(work), '--keys', 'nope', '--out', str(out)])
    with pytest.raises(FileNotFoundError):
        plot_log.main([str(tmp_path / 'empty'), '--out', str(out)])


@pytest.mark.slow  # uses the demo training run
def test_real_training_log(tool_module, gtsa_demo_ckpt, tmp_path):
    plot_log = tool_module(TOOL)
    out = tmp_path / 'demo.png'
    curves = plot_log.main([gtsa_demo_ckpt['work_dir'], '--keys', *KEYS,
                            '--out', str(out)])
    assert [x for x, _ in curves['loss_rot']] == [1, 2]  # 4 images, batch 2
    assert png_size(out)[0] == int(round(plot_log.FIG_WIDTH * plot_log.DPI))
