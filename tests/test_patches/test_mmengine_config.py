"""gtsa_plugin.patches.mmengine_config: ``mmdet::``/``mmseg::`` base configs
resolve without ``pkg_resources`` (setuptools >= 81, Python 3.12 venvs), and
the plugin never imports it (setuptools 80 warns on every import)."""
from __future__ import annotations

import sys

import process_helpers as pr
from hidden_modules import hide

CONFIGS = [
    'configs/downstream/mmdet/mask-rcnn_vit-s_fpn_1x_coco.py',
    'configs/downstream/mmseg/semfpn_vit-s_40k_ade20k.py',
]

LOAD = f"""
import sys, warnings
warnings.simplefilter('error', UserWarning)  # pkg_resources' deprecation
import gtsa_plugin
from mmengine.config import Config
for path in {CONFIGS!r}:
    cfg = Config.fromfile(path)
    print(path, cfg.default_scope, cfg.model.type,
          type(cfg.model.backbone.arch).__name__)
print('pkg_resources imported:', 'pkg_resources' in sys.modules)
"""


def _load(env: dict):
    return pr.run([sys.executable, '-c', LOAD], env=env, timeout=300)


def test_toolkit_bases_resolve_without_pkg_resources(tmp_path):
    env = hide(['pkg_resources'], str(tmp_path / 'hidden'), pr.env())
    out = _load(env)
    assert out.returncode == 0, pr.tail(out.stderr)
    assert f'{CONFIGS[0]} mmdet MaskRCNN str' in out.stdout
    assert f'{CONFIGS[1]} mmseg EncoderDecoder str' in out.stdout
    # the hiding works: the unpatched mmengine would have failed
    check = pr.run([sys.executable, '-c', 'import pkg_resources'], env=env)
    assert check.returncode != 0 and 'hidden by the test' in check.stderr


def test_plugin_never_imports_pkg_resources():
    env = pr.env()
    env.pop('PYTHONWARNINGS', None)
    out = _load(env)
    assert out.returncode == 0, pr.tail(out.stderr)
    assert 'pkg_resources imported: False' in out.stdout
