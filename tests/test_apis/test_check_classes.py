"""A classifier's head, data preprocessor and top-k metrics agree on the
number of classes before anything is built: following the recipe's own
advice for a 4-class folder used to fail after a whole training epoch
(``Top-5 accuracy is unavailable since the number of categories is 4``)."""
from __future__ import annotations

import pytest
import repo_helpers as rp

from gtsa_plugin.apis.cli import load_config
from gtsa_plugin.apis.run_checks import check_classes

FINETUNE = f'{rp.REPO_ROOT}/configs/downstream/mmpretrain/' \
    'vit-s-p16_finetune_8xb128-300e_imagenet-folder.py'
INAT_PROBE = f'{rp.REPO_ROOT}/configs/downstream/mmpretrain/' \
    'vit-s-p16_linear-probe_8xb512-90e_inat2019.py'


@pytest.mark.parametrize('path,classes', [(FINETUNE, 1000),
                                          (INAT_PROBE, 1010)])
def test_shipped_configs_agree(path, classes):
    cfg = load_config(path)
    assert cfg.model.head.num_classes == classes
    assert cfg.data_preprocessor.num_classes == classes
    check_classes(cfg)


def test_four_classes_with_top5_names_the_metric():
    cfg = load_config(FINETUNE, {'model.head.num_classes': 4,
                                 'data_preprocessor.num_classes': 4})
    with pytest.raises(ValueError) as info:
        check_classes(cfg)
    message = str(info.value)
    assert 'val_evaluator.topk=(1, 5)' in message
    assert 'model.head.num_classes=4' in message
    cfg = load_config(FINETUNE, {'model.head.num_classes': 4,
                                 'data_preprocessor.num_classes': 4,
                                 'val_evaluator.topk': 1})
    check_classes(cfg)  # training validates with val_evaluator only
    # test_evaluator was copied from val_evaluator when the file loaded:
    # a test run (tools/test.py) needs it set too
    with pytest.raises(ValueError, match=r'test_evaluator\.topk'):
        check_classes(cfg, evaluators=('test_evaluator', ))
    cfg.test_evaluator.topk = 1
    check_classes(cfg, evaluators=('test_evaluator', ))


@pytest.mark.parametrize('key', ['model.head.num_classes',
                                 'data_preprocessor.num_classes'])
def test_one_count_changed_alone_names_both(key):
    # the finetune recipe's mixup / cutmix targets are one-hot vectors of
    # data_preprocessor.num_classes: they must fit the head
    cfg = load_config(FINETUNE, {key: 12})
    with pytest.raises(ValueError) as info:
        check_classes(cfg)
    message = str(info.value)
    assert f'{key}=12' in message
    assert 'num_classes=1000' in message


def test_without_batch_augments_only_the_head_counts():
    # the linear probe makes no one-hot targets: the preprocessor's count
    # is unused there
    check_classes(load_config(INAT_PROBE,
                              {'data_preprocessor.num_classes': 12}))


def test_pretraining_configs_have_nothing_to_check():
    check_classes(load_config(rp.GTSA_DEMO))
