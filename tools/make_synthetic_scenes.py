"""Write a seeded synthetic scene dataset (unlabelled, COCO, ADE, crops).

Example::

    python tools/make_synthetic_scenes.py data/synthetic --num-images 200 \
        --width 640 --height 480

See ``gtsa_plugin/datasets/synthetic.py`` for the layout and conventions.
An existing OUT_DIR is replaced.
"""
import argparse
import json
import os
import sys

# Run as a script from a checkout: make ``gtsa_plugin`` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gtsa_plugin.datasets.synthetic import \
    generate_synthetic_scenes  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--width', type=int, default=256)
    parser.add_argument('--height', type=int, default=192)
    parser.add_argument('--num-classes', type=int, default=4,
                        help='number of object classes (1..10)')
    parser.add_argument('--val-fraction', type=float, default=0.25,
                        help='fraction of scenes in the val split (>= 1)')
    return parser.parse_args(argv)


def _count_files(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def main(argv=None) -> None:
    args = parse_args(argv)
    paths = generate_synthetic_scenes(
        args.out_dir,
        num_images=args.num_images,
        seed=args.seed,
        image_size=(args.width, args.height),
        num_classes=args.num_classes,
        val_fraction=args.val_fraction,
        progress=True)
    print(f'Wrote synthetic scenes to {paths["root"]}')
    print(f'  unlabeled/: {_count_files(paths["unlabeled"])} train images '
          f'({args.width}x{args.height})')
    for split in ('train', 'val'):
        with open(paths[f'coco_{split}_ann']) as f:
            coco = json.load(f)
        ann = os.path.relpath(paths[f'coco_{split}_ann'], paths['root'])
        print(f'  coco {split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} instances ({ann})')
    print(f'  ade: {_count_files(paths["ade_ann_train"])} train / '
          f'{_count_files(paths["ade_ann_val"])} val masks')
    for split in ('train', 'val'):
        counts = ', '.join(
            f'{name}={_count_files(os.path.join(paths[f"cls_{split}"], name))}'
            for name in paths['classes']['cls'])
        print(f'  cls {split} crops: {counts}')
    print(f'  classes: {json.dumps(paths["classes"])}')


if __name__ == '__main__':
    main()
