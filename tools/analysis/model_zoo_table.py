"""Render the model zoo (``model-index.yml`` and its metafiles) as the
README's markdown table.

    python tools/analysis/model_zoo_table.py              # print the table
    python tools/analysis/model_zoo_table.py --check README.md
    python tools/analysis/model_zoo_table.py --write README.md

The table lives in README.md between the lines ``<!-- model-zoo-table:start
-->`` and ``<!-- model-zoo-table:end -->``. ``--check`` exits with status 1
(printing a diff) when that block differs from what the metafiles give, or
2 when the markers are missing; ``--write`` rewrites the block in place.
"""
from __future__ import annotations

import argparse
import difflib
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import yaml  # noqa: E402

START = '<!-- model-zoo-table:start -->'
END = '<!-- model-zoo-table:end -->'
#: Marks metrics that come from the paper rather than from this plugin.
PAPER_MARK = '†'
LEGEND = (f'{PAPER_MARK} reported in the GTSA paper (arXiv 2304.08014); '
          'not reproduced by this plugin. "official": weights released by '
          'the reference implementation, to be converted with the named '
          'tool before use.')
COLUMNS = ('Model', 'Method', 'Pretrained', 'Task', 'Training data',
           'Schedule', 'Results', 'Config', 'Weights', 'Log')


def load_index(index_path: str) -> Dict[str, list]:
    """Collections and models of ``model-index.yml`` (following its
    ``Import`` list, paths relative to the index file), in file order."""
    with open(index_path) as f:
        index = yaml.safe_load(f) or {}
    base = osp.dirname(osp.abspath(index_path))
    collections: List[dict] = list(index.get('Collections') or [])
    models: List[dict] = list(index.get('Models') or [])
    for rel in index.get('Import') or []:
        with open(osp.join(base, rel)) as f:
            meta = yaml.safe_load(f) or {}
        collections += meta.get('Collections') or []
        for model in meta.get('Models') or []:
            models.append(dict(model, _metafile=rel))
    return dict(collections=collections, models=models)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return f'{value:.1f}'
    return str(value)


def _schedule(meta: dict) -> str:
    parts = []
    if meta.get('Epochs') is not None:
        parts.append(f'{meta["Epochs"]} ep')
    if meta.get('Iterations') is not None:
        iters = int(meta['Iterations'])
        parts.append(f'{iters // 1000}k it' if iters % 1000 == 0 else
                     f'{iters} it')
    if meta.get('Batch Size') is not None:
        parts.append(f'bs {meta["Batch Size"]}')
    return ', '.join(parts) or '—'


def _results(model: dict) -> str:
    results = model.get('Results') or []
    if not results:
        return '—'
    from_paper = 'paper' in str(
        (model.get('Metadata') or {}).get('Results Source', '')).lower()
    groups = []
    for result in results:
        metrics = ', '.join(f'{k} {_number(v)}'
                            for k, v in (result.get('Metrics') or {}).items())
        groups.append(metrics)
    return '; '.join(groups) + (f' {PAPER_MARK}' if from_paper else '')


def _tasks(model: dict) -> str:
    tasks = [r['Task'] for r in model.get('Results') or [] if r.get('Task')]
    if not tasks:
        task = (model.get('Metadata') or {}).get('Task')
        tasks = [task] if task else []
    return ' / '.join(dict.fromkeys(tasks)) or '—'


def _weights(model: dict) -> str:
    meta = model.get('Metadata') or {}
    if model.get('Weights'):
        return f'[model]({model["Weights"]})'
    if meta.get('Official Weights'):
        tool = str(meta.get('Official Weights Conversion', '')).split()
        tool = next((t for t in tool if t.endswith('.py')), '')
        convert = f' → `{osp.basename(tool)}`' if tool else ''
        return f'[official]({meta["Official Weights"]}){convert}'
    return '—'


def _log(model: dict) -> str:
    url = (model.get('Metadata') or {}).get('Official Log')
    return f'[official]({url})' if url else '—'


def _cell(text: object) -> str:
    # '|' would split the cell; newlines would end the row.
    return str(text).replace('|', '\\|').replace('\n', ' ')


def render_table(index: Dict[str, list]) -> str:
    """The markdown block: header, one row per model, legend."""
    lines = ['| ' + ' | '.join(COLUMNS) + ' |',
             '|' + '|'.join('---' for _ in COLUMNS) + '|']
    for model in index['models']:
        meta = model.get('Metadata') or {}
        pretrained = meta.get('Pretrained')
        row = [
            f'`{model["Name"]}`',
            model.get('In Collection', '—'),
            f'`{pretrained}`' if pretrained and ' ' not in str(pretrained)
            else (pretrained or '—'),
            _tasks(model),
            meta.get('Training Data', '—'),
            _schedule(meta),
            _results(model),
            f'[config]({model["Config"]})' if model.get('Config') else '—',
            _weights(model),
            _log(model),
        ]
        lines.append('| ' + ' | '.join(_cell(c) for c in row) + ' |')
    return '\n'.join(lines) + '\n\n' + LEGEND + '\n'


def split_readme(text: str) -> Optional[tuple]:
    """``(before, block, after)`` around the markers, or ``None``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        return None
    head = start + len(START)
    return text[:head], text[head:end], text[end:]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Markdown model-zoo table from model-index.yml')
    parser.add_argument('--index', default=osp.join(REPO_ROOT,
                                                    'model-index.yml'),
                        help='model index (default: the repo\'s)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--check', metavar='README',
                       help='exit 1 if README\'s table is out of date')
    group.add_argument('--write', metavar='README',
                       help='rewrite README\'s table in place')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    table = render_table(load_index(args.index))
    target = args.check or args.write
    if target is None:
        sys.stdout.write(table)
        return 0
    with open(target, encoding='utf-8') as f:
        text = f.read()
    parts = split_readme(text)
    if parts is None:
        print(f'{target}: markers {START} / {END} not found', file=sys.stderr)
        return 2
    before, block, after = parts
    wanted = '\n' + table
    if args.check:
        if block.strip() == wanted.strip():
            print(f'{target}: model zoo table is up to date')
            return 0
        diff = difflib.unified_diff(
            block.strip().splitlines(), wanted.strip().splitlines(),
            f'{target} (current)', 'from model-index.yml', lineterm='')
        print('\n'.join(diff))
        print(f'{target}: model zoo table is out of date; run '
              f'python tools/analysis/model_zoo_table.py --write {target}',
              file=sys.stderr)
        return 1
    with open(target, 'w', encoding='utf-8') as f:
        f.write(before + wanted + after)
    print(f'{target}: model zoo table written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
