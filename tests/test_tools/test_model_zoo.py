"""model-index.yml, the metafiles and tools/analysis/model_zoo_table.py."""
from __future__ import annotations

import glob
import os.path as osp

import pytest
import yaml
from repo_helpers import REPO_ROOT

TOOL = 'tools/analysis/model_zoo_table.py'
PAPER = 'arXiv 2304.08014'


@pytest.fixture(scope='module')
def zoo(tool_module) -> dict:
    return tool_module(TOOL).load_index(osp.join(REPO_ROOT, 'model-index.yml'))


def by_name(zoo: dict) -> dict:
    return {m['Name']: m for m in zoo['models']}


def test_every_config_is_listed_and_every_listed_config_loads(zoo,
                                                              repo_root):
    from mmengine.config import Config

    from gtsa_plugin.patches.mmengine_config import \
        install_external_config_resolution
    listed = {m['Config'] for m in zoo['models']}
    on_disk = {
        osp.relpath(p, repo_root)
        for p in glob.glob(osp.join(repo_root, 'configs', '**', '*.py'),
                           recursive=True)
        if '_base_' not in osp.relpath(p, repo_root).split(osp.sep)
    }
    assert on_disk - listed == set(), 'configs missing from the model zoo'
    assert listed - on_disk == set(), 'model zoo lists missing configs'
    # 'mmdet::' / 'mmseg::' bases need the plugin's resolver in mmengine 0.10.
    install_external_config_resolution()
    for path in sorted(listed):
        cfg = Config.fromfile(osp.join(repo_root, path))
        assert 'model' in cfg, path


def test_fields(zoo, repo_root):
    collections = {c['Name'] for c in zoo['collections']}
    names = [m['Name'] for m in zoo['models']]
    assert len(names) == len(set(names)), 'model names must be unique'
    for model in zoo['models']:
        name, meta = model['Name'], model['Metadata']
        assert model['In Collection'] in collections, name
        assert meta.get('Training Data'), name
        assert isinstance(meta.get('Batch Size'), int), name
        assert isinstance(meta.get('Epochs') or meta.get('Iterations'),
                          int), name
        # OpenMMLab convention: paths relative to the repository root.
        assert osp.isfile(osp.join(repo_root, model['README'])), name
        assert not model.get('Weights'), 'we publish no weights'
        pretrained = meta.get('Pretrained')
        if pretrained and not pretrained.startswith('any '):
            assert pretrained in names, (name, pretrained)
        results = model.get('Results') or []
        for result in results:
            assert result['Task'] and result['Dataset'], name
            assert result['Metrics'] and all(
                isinstance(v, (int, float))
                for v in result['Metrics'].values()), name
        if results:  # none measured here: every number is the paper's
            assert PAPER in meta['Results Source'], name
        else:
            assert meta.get('Task'), name
        if meta.get('Official Weights'):
            assert meta['Official Weights'].startswith('https://')
            tool_path = meta['Official Weights Conversion'].split()[1]
            assert osp.isfile(osp.join(repo_root, tool_path)), tool_path
            # ... and the downstream runs that consume them point back.
            for downstream in meta['Downstream']:
                assert downstream in names, (name, downstream)
                assert by_name(zoo)[downstream]['Metadata'][
                    'Pretrained'] == name


def test_paper_numbers(zoo):
    """GTSA vs DINO, COCO-pretrained 100 epochs (the paper's tables)."""
    models = by_name(zoo)

    def metric(name, task, key):
        result = next(r for r in models[name]['Results']
                      if r['Task'] == task)
        return result['Metrics'][key]

    inat = 'vit-s-p16_finetune_8xb128-300e_inat2019_{}-coco-pre'
    det = 'mask-rcnn_vit-s_fpn_1x_coco_{}-coco-pre'
    seg = 'semfpn_vit-s_40k_ade20k_{}-coco-pre'
    expected = {
        (inat, 'Image Classification', 'Top 1 Accuracy'): (59.7, 54.8),
        (det, 'Object Detection', 'box AP'): (35.8, 32.4),
        (det, 'Instance Segmentation', 'mask AP'): (33.5, 30.8),
        (seg, 'Semantic Segmentation', 'mIoU'): (30.6, 27.3),
    }
    for (pattern, task, key), (gtsa, dino) in expected.items():
        assert metric(pattern.format('gtsa'), task, key) == gtsa
        assert metric(pattern.format('dino'), task, key) == dino
        assert models[pattern.format('gtsa')]['Metadata']['Pretrained'] == \
            'gtsa_vit-s_coco'


def test_openmmlab_modelindex_reads_it(zoo, repo_root):
    """The ``model-index`` package (what ``mim`` uses) parses the index to
    the same models, with no errors except README paths: it resolves those
    relative to each metafile, while OpenMMLab metafiles (and ours) write
    them relative to the repository root, checked in test_fields."""
    modelindex = pytest.importorskip('modelindex.load_model_index')
    index = modelindex.load(osp.join(repo_root, 'model-index.yml'))
    assert [m.name for m in index.models] == [m['Name'] for m in zoo['models']]
    errors = [e for e in index.check(silent=True)
              if 'Path to README file' not in e]
    assert errors == []


def test_table_matches_metafiles(tool_module, zoo, tmp_path, capsys):
    table_tool = tool_module(TOOL)
    assert table_tool.main([]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith('| `')]
    assert len(rows) == len(zoo['models'])
    for row, model in zip(rows, zoo['models']):
        cells = [c.strip() for c in row.strip('|').split(' | ')]
        assert cells[0] == f'`{model["Name"]}`'
        assert cells[1] == model['In Collection']
        assert f'({model["Config"]})' in cells[7]
        for result in model.get('Results') or []:
            for key, value in result['Metrics'].items():
                assert f'{key} {value}' in cells[6]
        if model['Metadata'].get('Official Weights'):
            assert model['Metadata']['Official Weights'] in cells[8]

    readme = tmp_path / 'README.md'
    readme.write_text('# zoo\n\n' + table_tool.START + '\nold\n' +
                      table_tool.END + '\n\nmore text\n')
    assert table_tool.main(['--check', str(readme)]) == 1
    assert table_tool.main(['--write', str(readme)]) == 0
    assert table_tool.main(['--check', str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith('# zoo\n') and text.endswith('\n\nmore text\n')
    assert table.strip() in text
    readme.write_text('no markers\n')
    assert table_tool.main(['--check', str(readme)]) == 2


def test_metafiles_are_plain_yaml(repo_root):
    with open(osp.join(repo_root, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert sorted(imports) == sorted([
        'configs/gtsa/metafile.yml', 'configs/dino/metafile.yml',
        'configs/downstream/metafile.yml'
    ])
