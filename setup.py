"""Install with ``make install`` (builds mmcv's ops when needed), or see
README.md for the plain pip steps.

Like the OpenMMLab toolkits, the package carries its configs, tools and
model index in ``gtsa_plugin/.mim/`` so that ``mim search|train|test
gtsa_plugin`` work from an installed copy: copied into wheels (and so into
``pip install .``), symlinked into the checkout for editable installs.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
# What mim looks for in <package>/.mim/ (configs, tools/train.py,
# tools/test.py, model-index.yml).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'gtsa_plugin', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def read_requirements(name: str) -> list:
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


def write_mim_files(mim_dir: str, mode: str) -> None:
    """Put :data:`MIM_FILES` into ``mim_dir``: ``mode='copy'`` (a wheel's
    build folder) or ``'symlink'`` (relative links into this checkout, for
    editable installs). What was there before is replaced."""
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        dst = osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if not osp.exists(src):
            continue
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies the configs, tools and model index
    into ``gtsa_plugin/.mim/`` of the build folder (so into the wheel)."""

    def run(self) -> None:
        super().run()
        if not getattr(self, 'editable_mode', False):
            write_mim_files(
                osp.join(self.build_lib, 'gtsa_plugin', '.mim'), 'copy')


if {'develop', 'editable_wheel'} & set(sys.argv[1:]):
    # Editable installs import the checkout itself: link, do not copy.
    write_mim_files(osp.join(HERE, 'gtsa_plugin', '.mim'), 'symlink')

with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='gtsa_plugin',
    version=read_version(),
    description='GTSA self-supervised pretraining (arXiv 2304.08014) for '
    'OpenMMLab: mmpretrain, mmdet and mmseg',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
