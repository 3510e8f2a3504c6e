"""``mim search|train|test gtsa_plugin`` on a non-editable install.

The package is built into a wheel from a copy of the checkout and installed
with ``pip install --target``; mim then runs with only that folder on
PYTHONPATH and from a folder outside the checkout, so everything it uses
(model index, configs, tools/train.py, tools/test.py, the gtsa_plugin
package) must come from the installed ``gtsa_plugin/.mim/`` layout.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import yaml
from repo_helpers import REPO_ROOT

pytestmark = pytest.mark.slow

# Not part of a source tree: build outputs, data, caches, editable links.
_NOT_SOURCE = shutil.ignore_patterns(
    '.git', 'build', 'dist', '*.egg-info', 'work_dirs', 'data', '.mim',
    '__pycache__', '*.pyc', '.pytest_cache')


def _run(cmd, cwd, env, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{cmd[:4]}...\n{out[-4000:]}'
    return out


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A wheel of this checkout installed into ``<tmp>/site``; the env and
    working folder to run mim with."""
    root = tmp_path_factory.mktemp('mim')
    src = root / 'src'
    shutil.copytree(REPO_ROOT, src, ignore=_NOT_SOURCE, symlinks=True)
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
          '--no-build-isolation', '-q', '-w', str(root / 'wheel'), str(src)],
         cwd=root, env=env)
    wheel = glob.glob(str(root / 'wheel' / 'gtsa_plugin-*.whl'))
    assert len(wheel) == 1
    site = root / 'site'
    _run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
          '--target', str(site), wheel[0]], cwd=root, env=env)
    shutil.rmtree(src)  # nothing can fall back to the copied checkout
    env.update(PYTHONPATH=str(site), PYTHONWARNINGS='ignore',
               OMP_NUM_THREADS=str(os.environ.get('OMP_NUM_THREADS', 2)))
    cwd = root / 'elsewhere'
    cwd.mkdir()
    return dict(site=str(site), env=env, cwd=str(cwd), root=root)


def _mim(installed, *args, timeout=300):
    return _run([sys.executable, '-m', 'mim', *args], cwd=installed['cwd'],
                env=installed['env'], timeout=timeout)


def test_install_ships_the_mim_layout(installed):
    mim_dir = osp.join(installed['site'], 'gtsa_plugin', '.mim')
    for rel in ('model-index.yml', 'tools/train.py', 'tools/test.py',
                'tools/slurm_train.sh', 'configs/gtsa_vit-s_coco.py',
                'configs/_base_/default_runtime.py',
                'configs/gtsa/metafile.yml'):
        assert osp.isfile(osp.join(mim_dir, rel)), rel
        assert not osp.islink(osp.join(mim_dir, rel)), rel
    # mim and the tools see the installed package, not a checkout.
    out = _run([
        sys.executable, '-c', 'import importlib.util, mim.utils as u; '
        'print(importlib.util.find_spec("gtsa_plugin").origin); '
        'print(u.get_installed_path("gtsa_plugin"))'
    ], cwd=installed['cwd'], env=installed['env'])
    module, pkg_root = out.strip().splitlines()[-2:]
    assert module == osp.join(installed['site'], 'gtsa_plugin',
                              '__init__.py')
    assert pkg_root == osp.join(installed['site'], 'gtsa_plugin')


def test_mim_search_lists_the_zoo(installed):
    out = _mim(installed, 'search', 'gtsa_plugin')
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    names = []
    for rel in metafiles:
        with open(osp.join(REPO_ROOT, rel)) as f:
            names += [m['Name'] for m in yaml.safe_load(f)['Models']]
    assert len(names) >= 6
    for name in names:
        assert f'config id: {name}\n' in out, name


def test_mim_train_then_test(installed, synthetic_scenes):
    """One epoch of the demo found by name in the installed configs, then
    its ViT evaluated by the linear-probe config (``mim test``)."""
    data = installed['root'] / 'images'
    data.mkdir()
    folder = synthetic_scenes['unlabeled']
    for name in sorted(os.listdir(folder))[:2]:
        shutil.copy(osp.join(folder, name), data)
    work_dir = osp.join(installed['cwd'], 'work')
    out = _mim(installed, 'train', 'gtsa_plugin', 'gtsa_vit-tiny_demo.py',
               '--work-dir', work_dir, '--cfg-options',
               f'train_dataloader.dataset.data_root={data}',
               'train_dataloader.batch_size=2',
               'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               'train_dataloader.dataset.pipeline.1.num_crops=(2,2)',
               'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
               timeout=500)
    mim_dir = osp.join(installed['site'], 'gtsa_plugin', '.mim')
    assert (f'Training command is {sys.executable} '
            f'{mim_dir}/tools/train.py {mim_dir}/configs/'
            'gtsa_vit-tiny_demo.py') in out
    assert 'Training finished successfully' in out
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    cls_root = osp.join(synthetic_scenes['root'], 'cls')
    test_dir = osp.join(installed['cwd'], 'test')
    out = _mim(
        installed, 'test', 'gtsa_plugin',
        'vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py',
        '--checkpoint', ckpt, '--work-dir', test_dir, '--cfg-options',
        'model.backbone.arch.embed_dims=96',
        'model.backbone.arch.num_layers=4', 'model.backbone.arch.num_heads=3',
        'model.backbone.arch.feedforward_channels=384',
        'model.backbone.patch_size=8', 'model.backbone.img_size=96',
        'model.backbone.frozen_stages=4', 'model.neck.input_features=96',
        'model.head.in_channels=96',
        f'model.head.num_classes={len(os.listdir(osp.join(cls_root, "val")))}',
        'test_dataloader.dataset.pipeline.1.scale=110',
        'test_dataloader.dataset.pipeline.2.crop_size=96',
        f'test_dataloader.dataset.data_root={cls_root}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'test_evaluator.topk=(1,)')
    assert f'{mim_dir}/tools/test.py' in out
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        assert 0 <= json.load(f)['accuracy/top1'] <= 100
