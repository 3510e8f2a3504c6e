"""Tests of the seeded synthetic scene generator (no mocks, real files)."""
import json
import os
import os.path as osp
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from repo_helpers import REPO_ROOT

from gtsa_plugin.datasets.synthetic import (MIN_VISIBLE_AREA, STUFF_CLASSES,
                                            SYNTHETIC_CLASSES,
                                            ensure_synthetic_scenes,
                                            generate_synthetic_scenes,
                                            render_scene, synthetic_classes)

K = 4
S = len(STUFF_CLASSES)


def _files(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = osp.join(d, n)
            with open(p, 'rb') as f:
                out[osp.relpath(p, root)] = f.read()
    return out


def _mtimes(root):
    return {
        osp.relpath(osp.join(d, n), root): os.stat(osp.join(d, n)).st_mtime_ns
        for d, _, names in os.walk(root) for n in names
    }


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('syn') / 'scenes')
    return generate_synthetic_scenes(out, num_images=16, seed=0)


def test_paths_and_classes(dataset):
    expected = {
        'root', 'unlabeled', 'coco_train_ann', 'coco_val_ann',
        'coco_train_img', 'coco_val_img', 'ade_img_train', 'ade_img_val',
        'ade_ann_train', 'ade_ann_val', 'cls_train', 'cls_val', 'classes'
    }
    assert set(dataset) == expected
    for key in expected - {'classes'}:
        assert osp.exists(dataset[key]), key
    classes = dataset['classes']
    assert classes == synthetic_classes(K)
    assert classes['coco'] == list(SYNTHETIC_CLASSES[:K]) == classes['cls']
    assert classes['ade'] == list(STUFF_CLASSES) + classes['coco']
    assert len(set(SYNTHETIC_CLASSES)) == len(SYNTHETIC_CLASSES) >= 8
    with open(osp.join(dataset['root'], 'meta.json')) as f:
        meta = json.load(f)
    assert meta['classes'] == classes
    assert meta['args']['num_images'] == 16 and meta['args']['seed'] == 0
    # Split: the last round(16 * 0.25) = 4 scenes are val, in every layout.
    train = [f'{i:06d}' for i in range(12)]
    val = [f'{i:06d}' for i in range(12, 16)]

    def stems(folder):
        return sorted(osp.splitext(n)[0] for n in os.listdir(folder))

    assert stems(dataset['unlabeled']) == train
    assert stems(dataset['coco_train_img']) == train
    assert stems(dataset['ade_img_train']) == stems(
        dataset['ade_ann_train']) == train
    assert stems(dataset['coco_val_img']) == val
    assert stems(dataset['ade_img_val']) == stems(
        dataset['ade_ann_val']) == val
    # The very same encoded scene appears in every layout.
    for stem in train:
        a = _read(osp.join(dataset['unlabeled'], stem + '.jpg'))
        assert a == _read(osp.join(dataset['coco_train_img'], stem + '.jpg'))
        assert a == _read(osp.join(dataset['ade_img_train'], stem + '.jpg'))


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_deterministic(dataset, tmp_path):
    again = generate_synthetic_scenes(
        str(tmp_path / 'again'), num_images=16, seed=0)
    a, b = _files(dataset['root']), _files(again['root'])
    assert len(a) > 16 * 3
    assert sorted(a) == sorted(b)
    diff = [k for k in a if a[k] != b[k]]
    assert not diff, diff[:5]

    other = generate_synthetic_scenes(
        str(tmp_path / 'other'), num_images=16, seed=1)
    for stem in ('000000', '000007'):
        x = np.asarray(Image.open(
            osp.join(dataset['unlabeled'], stem + '.jpg')), np.int16)
        y = np.asarray(Image.open(
            osp.join(other['unlabeled'], stem + '.jpg')), np.int16)
        assert np.abs(x - y).mean() > 10


def test_scene_independent_of_dataset_size():
    # Scene i depends on (seed, i) only, not on the number of scenes.
    a = render_scene(5, seed=3)
    b = render_scene(5, seed=3)
    c = render_scene(6, seed=3)
    assert np.array_equal(a['image'], b['image'])
    assert np.array_equal(a['semantic'], b['semantic'])
    assert not np.array_equal(a['image'], c['image'])


def test_render_scene_occlusion_and_labels():
    occluded = 0
    for i in range(16):
        scene = render_scene(i, seed=0, image_size=(160, 120), num_classes=K)
        img, sem, insts = scene['image'], scene['semantic'], scene['instances']
        assert img.shape == (120, 160, 3) and img.dtype == np.uint8
        assert sem.shape == (120, 160) and sem.dtype == np.uint8
        assert len(insts) >= 3  # several objects, not object-centric
        assert len({x['category'] for x in insts}) >= 2
        # Ground and sky are in every scene; every pixel is labelled.
        assert {1, 2} <= set(np.unique(sem).tolist())
        assert sem.min() >= 1
        union = np.zeros(sem.shape, np.int32)
        for inst in insts:
            m = inst['mask']
            assert m.sum() >= 16
            assert m.sum() <= inst['drawn_area']
            occluded += int(m.sum() < inst['drawn_area'])
            union += m
        assert union.max() <= 1  # visible masks are disjoint
        # ADE object labels are the visible instance masks, plus the few
        # pixels of objects too hidden to be instances (they keep their
        # class: every pixel is labelled).
        for c in range(K):
            cls_mask = np.zeros(sem.shape, bool)
            for inst in insts:
                if inst['category'] == c:
                    cls_mask |= inst['mask']
            ade = sem == S + 1 + c
            assert not (cls_mask & ~ade).any()
            assert (ade & ~cls_mask).sum() < 8 * MIN_VISIBLE_AREA
    assert occluded > 0


def test_masks_cover_the_drawn_object():
    # Each object has its own random hue: the pixels a visible mask claims
    # must show that colour (catches masks that ignore the drawing order).
    for i in range(16):
        scene = render_scene(i, seed=0, num_classes=K)
        rgb = scene['image'].astype(np.float32) / 255
        hue = _hue(rgb)
        for inst in scene['instances']:
            h = hue[inst['mask']]
            d = np.abs((h - inst['hue'] + 180) % 360 - 180)
            assert (d < 30).mean() > 0.9, (i, inst['category'])


def test_colour_is_not_a_class_cue():
    # Classes differ by shape and texture only: each class's objects take
    # hues all round the colour wheel, and no two classes share a texture.
    from gtsa_plugin.datasets.synthetic import OBJECT_TEXTURES
    assert len(set(OBJECT_TEXTURES)) == len(OBJECT_TEXTURES) == len(
        SYNTHETIC_CLASSES)
    hues = {c: [] for c in range(K)}
    for i in range(24):
        for inst in render_scene(i, seed=0, image_size=(96, 72))['instances']:
            hues[inst['category']].append(inst['hue'])
    for c, hs in hues.items():
        sectors = set((np.asarray(hs) // 60).astype(int).tolist())
        assert len(sectors) >= 4, (c, sorted(hs))


def _hue(rgb):
    """Hue in degrees of a float RGB image in [0, 1]."""
    mx, mn = rgb.max(-1), rgb.min(-1)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    delta = np.maximum(mx - mn, 1e-6)
    h = np.where(mx == r, (g - b) / delta % 6,
                 np.where(mx == g, (b - r) / delta + 2, (r - g) / delta + 4))
    return h * 60


def test_coco(dataset):
    ann_ids = set()
    for split, n_img in (('train', 12), ('val', 4)):
        coco = COCO(dataset[f'coco_{split}_ann'])
        assert len(coco.getImgIds()) == n_img
        cat_ids = sorted(coco.getCatIds())
        assert cat_ids == list(range(1, K + 1))
        assert [coco.cats[i]['name'] for i in cat_ids] == dataset['classes'][
            'coco']
        anns = coco.dataset['annotations']
        assert len(anns) >= 3 * n_img
        for img in coco.dataset['images']:
            path = osp.join(dataset[f'coco_{split}_img'], img['file_name'])
            assert Image.open(path).size == (img['width'], img['height']) == (
                256, 192)
        n_poly = 0
        for ann in anns:
            assert ann['id'] not in ann_ids
            ann_ids.add(ann['id'])
            assert ann['category_id'] in cat_ids
            assert ann['iscrowd'] == 0
            assert ann['image_id'] in coco.imgs
            n_poly += isinstance(ann['segmentation'], list)
            m = coco.annToMask(ann)
            assert m.sum() > 0
            ys, xs = np.nonzero(m)
            tight = [
                xs.min(), ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1
            ]
            assert np.abs(np.array(tight) - ann['bbox']).max() <= 1, (tight,
                                                                      ann)
            assert ann['area'] >= 16
            assert abs(int(m.sum()) - ann['area']) <= max(
                3, 0.08 * ann['area']), ann['id']
        assert n_poly > len(anns) // 2  # polygons are the usual encoding


def test_ade_matches_coco(dataset):
    for split, ade in (('train', 'train'), ('val', 'val')):
        coco = COCO(dataset[f'coco_{split}_ann'])
        for img in coco.dataset['images']:
            stem = osp.splitext(img['file_name'])[0]
            sem_img = Image.open(
                osp.join(dataset[f'ade_ann_{ade}'], stem + '.png'))
            assert sem_img.mode == 'L'
            sem = np.asarray(sem_img)
            assert sem.shape == (img['height'], img['width'])
            assert Image.open(
                osp.join(dataset[f'ade_img_{ade}'],
                         stem + '.jpg')).size == (img['width'], img['height'])
            assert sem.max() <= S + K
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img['id']))
            assert anns
            for c in range(1, K + 1):
                from_coco = np.zeros(sem.shape, bool)
                for ann in anns:
                    if ann['category_id'] == c:
                        from_coco |= coco.annToMask(ann).astype(bool)
                from_ade = sem == S + c
                union = np.logical_or(from_coco, from_ade).sum()
                if union == 0:
                    continue
                inter = np.logical_and(from_coco, from_ade).sum()
                assert inter / union > 0.93, (stem, c, inter / union)


def test_cls_crops(dataset):
    for split in ('cls_train', 'cls_val'):
        assert sorted(os.listdir(dataset[split])) == sorted(
            dataset['classes']['cls'])
        for name in dataset['classes']['cls']:
            files = os.listdir(osp.join(dataset[split], name))
            assert len(files) >= 1, (split, name)
            crop = Image.open(osp.join(dataset[split], name, files[0]))
            assert crop.size == (64, 64) and crop.mode == 'RGB'


def test_cls_coverage_eight_classes(tmp_path):
    paths = generate_synthetic_scenes(
        str(tmp_path / 'k8'), num_images=8, num_classes=8,
        image_size=(160, 120))
    assert paths['classes']['ade'][:S] == list(STUFF_CLASSES)
    assert len(paths['classes']['ade']) == S + 8
    for split in ('cls_train', 'cls_val'):
        for name in paths['classes']['cls']:
            assert os.listdir(osp.join(paths[split], name)), (split, name)


def test_cli(tmp_path):
    out = tmp_path / 'cli'
    proc = subprocess.run(
        [sys.executable, 'tools/make_synthetic_scenes.py', str(out),
         '--num-images', '4'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(out / 'unlabeled')) == 3
    assert len(os.listdir(out / 'coco' / 'val')) == 1
    for rel in ('coco/annotations/instances_train.json',
                'coco/annotations/instances_val.json', 'meta.json'):
        assert (out / rel).is_file(), rel
    assert len(os.listdir(out / 'ade' / 'annotations' / 'training')) == 3
    assert sorted(os.listdir(out / 'cls' / 'train')) == sorted(
        SYNTHETIC_CLASSES[:K])
    assert 'coco train' in proc.stdout


def test_ensure_idempotent(tmp_path):
    out = str(tmp_path / 'ensure')
    first = ensure_synthetic_scenes(out, num_images=4, seed=2)
    before = _mtimes(out)
    assert len(os.listdir(first['unlabeled'])) == 3
    second = ensure_synthetic_scenes(out, num_images=4, seed=2)
    assert second == first
    assert _mtimes(out) == before
    # No temporary siblings are left behind.
    assert os.listdir(tmp_path) == ['ensure']


def test_ensure_concurrent(tmp_path):
    out = str(tmp_path / 'race')
    results, errors = [], []

    def call():
        try:
            results.append(ensure_synthetic_scenes(out, num_images=6))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 3 and all(r == results[0] for r in results)
    assert os.listdir(tmp_path) == ['race']
    assert len(os.listdir(osp.join(out, 'unlabeled'))) == 4
    ref = generate_synthetic_scenes(str(tmp_path / 'ref'), num_images=6)
    assert _files(out) == _files(ref['root'])


def test_generate_replaces_existing(tmp_path):
    out = str(tmp_path / 'replace')
    generate_synthetic_scenes(out, num_images=6)
    generate_synthetic_scenes(out, num_images=4)
    assert len(os.listdir(osp.join(out, 'unlabeled'))) == 3
    assert sorted(os.listdir(tmp_path)) == ['replace']


def test_ensure_rejects_foreign_folder(tmp_path):
    out = tmp_path / 'foreign'
    out.mkdir()
    (out / 'notes.txt').write_text('not a dataset')
    with pytest.raises(RuntimeError):
        ensure_synthetic_scenes(str(out), num_images=4)
    assert sorted(os.listdir(tmp_path)) == ['foreign']


def test_import_is_light():
    # Load the package on its own: it must not pull in torch/mm*.
    folder = osp.join(REPO_ROOT, 'gtsa_plugin', 'datasets', 'synthetic')
    code = (
        'import importlib.util, sys\n'
        f'spec = importlib.util.spec_from_file_location("syn", '
        f'{osp.join(folder, "__init__.py")!r}, '
        f'submodule_search_locations=[{folder!r}])\n'
        'mod = importlib.util.module_from_spec(spec)\n'
        'sys.modules["syn"] = mod\n'
        'spec.loader.exec_module(mod)\n'
        'assert mod.render_scene(0)["image"].shape == (192, 256, 3)\n'
        'heavy = [m for m in sys.modules if m.split(".")[0] in '
        '("torch", "mmdet", "mmseg", "mmpretrain", "mmengine", '
        '"pycocotools")]\n'
        'assert not heavy, heavy\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_synthetic_scenes(str(tmp_path / 'a'), num_classes=0)
    with pytest.raises(ValueError):
        generate_synthetic_scenes(
            str(tmp_path / 'b'), num_classes=len(SYNTHETIC_CLASSES) + 1)
    with pytest.raises(ValueError):
        generate_synthetic_scenes(str(tmp_path / 'c'), num_images=1)
    assert not os.listdir(tmp_path)
