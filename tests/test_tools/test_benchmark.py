"""tools/benchmark.py: a short CPU run through the real CLI, and its helpers.

Timings are never asserted (the machine is shared); only the report's
structure and its internal consistency (the medians and the ratio come from
the per-iteration times of the same run).
"""
import json
import os.path as osp
import statistics
import subprocess
import sys

import pytest
from repo_helpers import load_tool


def _load_tool(repo_root):
    return load_tool('tools/benchmark.py')


def _run(repo_root, *args):
    cmd = [sys.executable, osp.join(repo_root, 'tools/benchmark.py'), *args]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _check_consistent(res, iters):
    assert len(res['floor_step_times_s']) == iters
    assert len(res['step_times_s']) == iters
    assert res['floor_step_s'] == pytest.approx(
        statistics.median(res['floor_step_times_s']), rel=1e-12)
    assert res['step_s'] == pytest.approx(
        statistics.median(res['step_times_s']), rel=1e-12)
    assert res['ratio'] == pytest.approx(
        res['step_s'] / res['floor_step_s'], rel=1e-12)
    paired = [f / b for f, b in zip(res['step_times_s'],
                                    res['floor_step_times_s'])]
    assert res['ratio_paired_median'] == pytest.approx(
        statistics.median(paired), rel=1e-12)
    assert len(res['arch_floor_step_times_s']) == iters
    assert res['arch_ratio'] == pytest.approx(
        res['step_s'] / res['arch_floor_step_s'], rel=1e-12)
    for prefix, key in (('floor_', 'floor_step_times_s'),
                        ('arch_floor_', 'arch_floor_step_times_s'),
                        ('', 'step_times_s')):
        spread = res[f'{prefix}step_spread_s']
        assert spread['min'] == min(res[key])
        assert spread['max'] == max(res[key])
        assert spread['min'] <= spread['median'] <= spread['max']
        assert spread['iqr'] >= 0
        assert res[f'{prefix}img_per_s'] == pytest.approx(
            res['batch_size'] / res[f'{prefix}step_s'])


def test_gtsa_demo_cpu_run_with_profile_and_pipeline(repo_root, tmp_path):
    out = tmp_path / 'gtsa.json'
    proc = _run(repo_root, 'configs/gtsa_vit-tiny_demo.py', '--device', 'cpu',
                '--batch-size', '2', '--iters', '2', '--warmup', '1',
                '--pipeline-images', '2', '--profile', '--profile-iters', '1',
                '--compare-pipeline', 'configs/dino_vit-tiny_demo.py',
                '--threads', '1', '--out', str(out))
    res = json.loads(out.read_text())

    for key in ('device', 'torch', 'batch_size', 'floor_step_s', 'step_s',
                'ratio', 'arch_floor_step_s', 'arch_ratio',
                'floor_peak_mem_gib', 'peak_mem_gib',
                'pipeline_img_per_s_per_worker', 'config', 'amp', 'iters',
                'floor_step_spread_s', 'step_spread_s', 'mem_method',
                'load_average_start'):
        assert key in res, key
    assert res['config'] == 'configs/gtsa_vit-tiny_demo.py'
    assert res['algorithm'] == 'GTSA'
    assert res['device_type'] == 'cpu' and res['device']
    assert res['amp'] is False and res['iters'] == 2 and res['warmup'] == 1
    assert res['batch_size'] == 2
    assert res['views'] == [96, 96] + [48] * 8
    # Steady state: past the patch-correspondence warm-up (demo: 2 epochs).
    assert res['epoch'] == 2
    assert res['optim_wrapper'] == 'PerParamClipOptimWrapper'
    _check_consistent(res, 2)
    for key in ('floor_peak_mem_gib', 'peak_mem_gib'):
        assert res[key] is None or res[key] >= 0

    assert res['pipeline_images'] == 2
    assert res['pipeline_image_size'] == [640, 480]
    assert res['pipeline_img_per_s_per_worker'] > 0
    stages = res['pipeline_stage_ms_per_img']
    assert 'total:GTSAMultiCrop' in stages and 'total:LoadImageRGB' in stages
    # The other pipeline, timed image by image in between.
    cmp = res['compare_pipeline']
    assert cmp['config'] == 'configs/dino_vit-tiny_demo.py'
    assert cmp['pipeline_images'] == 2
    assert 'total:DINOMultiCrop' in cmp['pipeline_stage_ms_per_img']
    assert cmp['speed_ratio'] == pytest.approx(
        res['pipeline_img_per_s_per_worker'] /
        cmp['pipeline_img_per_s_per_worker'])

    # The profile: printed, saved next to the JSON, summarised in it.
    assert osp.isfile(res['profile_file'])
    assert res['profile_file'] == str(tmp_path / 'gtsa.profile.txt')
    regions = {r['region'] for r in res['profile']['regions']}
    assert {'student.backbone', 'teacher.forward', 'head.loss',
            'optim.backward', 'optim.step'} <= regions
    assert res['profile']['top_ops']
    assert 'full / floor' in proc.stdout and 'Regions' in proc.stdout
    assert 'full / arch floor' in proc.stdout


def test_dino_demo_cpu_run_in_process(repo_root, tmp_path):
    # In this process (the stack is imported already): saves a start-up.
    import torch
    tool = _load_tool(repo_root)
    out = tmp_path / 'dino.json'
    threads = torch.get_num_threads()
    try:
        # One thread: two OpenMP threads on a busy 2-core machine can make
        # a step 30x slower.
        res = tool.main([
            osp.join(repo_root, 'configs/dino_vit-tiny_demo.py'), '--device',
            'cpu', '--batch-size', '2', '--iters', '3', '--warmup', '0',
            '--skip-pipeline', '--threads', '1', '--out', str(out)
        ])
    finally:
        torch.set_num_threads(threads)
    assert json.loads(out.read_text())['step_times_s'] == res['step_times_s']
    assert res['algorithm'] == 'DINO'
    assert res['optim_wrapper'] == 'PerParamClipOptimWrapper'
    assert res['epoch'] == 1  # past the last-layer freeze
    assert res['pipeline_img_per_s_per_worker'] is None
    assert 'profile' not in res
    _check_consistent(res, 3)


def test_optim_wrapper_twins_and_summary(repo_root):
    tool = _load_tool(repo_root)
    from mmengine.config import ConfigDict
    cfg = ConfigDict(optim_wrapper=dict(
        type='PerParamClipAmpOptimWrapper', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-3)))
    fp32 = tool.optim_wrapper_cfg(cfg, amp=False)
    assert fp32['type'] == 'PerParamClipOptimWrapper'
    assert 'loss_scale' not in fp32
    assert cfg.optim_wrapper['type'] == 'PerParamClipAmpOptimWrapper'
    cfg.optim_wrapper = dict(type='PerParamClipOptimWrapper',
                             optimizer=dict(type='AdamW', lr=1e-3))
    amp = tool.optim_wrapper_cfg(cfg, amp=True)
    assert amp['type'] == 'PerParamClipAmpOptimWrapper'
    assert amp['loss_scale'] == 'dynamic'

    stats = tool.summarize([4.0, 1.0, 3.0, 2.0])
    assert stats['median'] == 2.5 and stats['min'] == 1.0
    assert stats['max'] == 4.0 and stats['iqr'] == pytest.approx(1.5)
