"""tools/analysis/compare_methods.py end to end at a tiny size: GTSA and
DINO pretrained through tools/train.py (in this process), probed, tabled
and plotted; a rerun reuses every finished run."""
import json
import os.path as osp

import pytest


@pytest.mark.slow
def test_compare_methods_tiny(tmp_path, tool_module):
    tool = tool_module('tools/analysis/compare_methods.py')
    out = tmp_path / 'compare'
    argv = ['--out-dir', str(out), '--num-images', '8', '--image-size',
            '128', '96', '--epochs', '2', '--batch-size', '6', '--workers',
            '0', '--seeds', '0', '--k', '5', '--in-process']
    table = tool.main(argv)
    assert set(table) == {'random', 'gtsa', 'dino'}
    for method, row in table.items():
        for key, _ in tool.METRICS:
            assert len(row[key]) == 1 and 0 <= row[key][0] <= 100
    md = (out / 'table.md').read_text()
    for name in ('random init', 'GTSA', 'DINO', 'dense k-NN mIoU'):
        assert name in md
    assert (out / 'comparison.png').stat().st_size > 1000
    results = json.loads((out / 'results.json').read_text())
    assert len(results['runs']) == 3
    for run in results['runs']:
        if run['method'] != 'random':
            assert osp.isfile(run['ckpt']) and run['wall_s'] > 0
    # A GTSA teacher trained 2 epochs (seed 0) beats the random-init floor
    # of the same seed on the dense k-NN probe.
    assert table['gtsa']['knn_mIoU'][0] > table['random']['knn_mIoU'][0]

    # A rerun finds every run done: nothing is trained or probed again.
    before = out / 'runs' / 'gtsa_seed0' / 'epoch_2.pth'
    mtime = before.stat().st_mtime_ns
    assert tool.main(argv) == table
    assert before.stat().st_mtime_ns == mtime
