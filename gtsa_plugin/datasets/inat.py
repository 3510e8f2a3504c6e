"""iNaturalist 2019 read from its official JSON annotation files."""
from __future__ import annotations

from typing import List, Optional, Union

from mmengine.fileio import get_file_backend, load
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

__all__ = ['INat2019']


@DATASETS.register_module()
class INat2019(BaseDataset):
    """iNaturalist 2019 (1010 species) from ``train2019.json`` /
    ``val2019.json``.

    The files are COCO-like: ``images`` (``id``, ``file_name`` relative to
    the data root, e.g. ``train_val2019/Plants/400/xxx.jpg``),
    ``annotations`` (``image_id``, ``category_id``) and ``categories``
    (``id``, ``name``). Labels are the categories' positions in ascending
    ``id`` order (for iNat 2019 that is the id itself, 0..1009). A file
    without ``annotations`` (``test2019.json``) gives samples without labels.

    Expected layout::

        data/inat2019/
        ├── train2019.json
        ├── val2019.json
        └── train_val2019/<super-category>/<category id>/*.jpg

    Args:
        data_root (str): Dataset root; ``ann_file`` and the images' paths
            are relative to it. Defaults to ``''``.
        ann_file (str): Annotation JSON. Defaults to ``'train2019.json'``.
        data_prefix (str | dict): Extra prefix of the ``file_name`` entries.
            Defaults to ``''``.
        metainfo (dict, optional): Overrides of the meta information; the
            class names come from the JSON's ``categories`` otherwise.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices`` ...).
    """

    def __init__(self,
                 data_root: str = '',
                 ann_file: str = 'train2019.json',
                 data_prefix: Union[str, dict] = '',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the annotation file: one dict with ``img_path`` (and
        ``gt_label`` when the file has annotations) per image."""
        content = load(self.ann_file)
        categories = sorted(content.get('categories', []),
                            key=lambda c: c['id'])
        cat_to_label = {c['id']: i for i, c in enumerate(categories)}
        if categories and 'classes' not in self._metainfo:
            # Why not METAINFO: the class list belongs to the file (iNat
            # 2017/2018/2019 differ), so read it from there.
            self._metainfo['classes'] = tuple(
                str(c.get('name', c['id'])) for c in categories)

        annotations = content.get('annotations')
        labels = None
        if annotations:
            labels = {}
            for ann in annotations:
                if ann['category_id'] not in cat_to_label:
                    raise KeyError(
                        f'{self.ann_file}: annotation {ann.get("id")} has '
                        f'category_id {ann["category_id"]}, which is not in '
                        '"categories"')
                labels[ann['image_id']] = cat_to_label[ann['category_id']]

        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        data_list = []
        for img in content['images']:
            info = dict(img_path=backend.join_path(self.img_prefix,
                                                   img['file_name']))
            if labels is not None:
                if img['id'] not in labels:
                    raise KeyError(f'{self.ann_file}: image {img["id"]} '
                                   f'({img["file_name"]}) has no annotation')
                info['gt_label'] = labels[img['id']]
            data_list.append(info)
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Annotation file: \t{self.ann_file}',
                f'Prefix of images: \t{self.img_prefix}']
