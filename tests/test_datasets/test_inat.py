"""INat2019: iNaturalist 2019 read from its JSON annotation files."""
import json
import os.path as osp

import pytest

from gtsa_plugin.datasets.inat import INat2019


def _write(root, name, content):
    with open(osp.join(root, name), 'w') as f:
        json.dump(content, f)


@pytest.fixture
def inat_root(tmp_path):
    """Annotations only (no pipeline runs, so no image files needed).
    Category ids are not contiguous and annotations are not in image
    order, as nothing in the format promises either."""
    root = str(tmp_path)
    cats = [dict(id=7, name='Quercus'), dict(id=2, name='Bufo'),
            dict(id=4, name='Larus')]
    images = [dict(id=i, file_name=f'train_val2019/x/{i}.jpg')
              for i in (10, 11, 12, 13)]
    anns = [dict(id=1, image_id=13, category_id=2),
            dict(id=2, image_id=10, category_id=7),
            dict(id=3, image_id=12, category_id=4),
            dict(id=4, image_id=11, category_id=2)]
    _write(root, 'train2019.json',
           dict(images=images, annotations=anns, categories=cats))
    _write(root, 'test2019.json', dict(images=images[:2], categories=cats))
    return root


def test_labels_follow_sorted_category_ids(inat_root):
    ds = INat2019(data_root=inat_root, ann_file='train2019.json')
    assert ds.metainfo['classes'] == ('Bufo', 'Larus', 'Quercus')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['gt_label'] for i in infos] == [2, 0, 1, 0]
    assert infos[0]['img_path'] == osp.join(inat_root,
                                            'train_val2019/x/10.jpg')
    assert list(ds.get_gt_labels()) == [2, 0, 1, 0]


def test_file_without_annotations_has_no_labels(inat_root):
    ds = INat2019(data_root=inat_root, ann_file='test2019.json',
                  test_mode=True)
    assert len(ds) == 2 and 'gt_label' not in ds.get_data_info(0)


def test_unknown_category_is_an_error(inat_root):
    _write(inat_root, 'bad.json', dict(
        images=[dict(id=1, file_name='a.jpg')],
        annotations=[dict(id=1, image_id=1, category_id=99)],
        categories=[dict(id=0, name='a')]))
    with pytest.raises(KeyError, match='category_id 99'):
        INat2019(data_root=inat_root, ann_file='bad.json')


def test_registered_in_mmpretrain():
    from mmpretrain.registry import DATASETS
    assert DATASETS.module_dict['INat2019'] is INat2019
