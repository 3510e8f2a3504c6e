"""Mask R-CNN on the tiny ViT: train 2 iterations with tools/train.py and
evaluate with tools/test.py (mmdet's CocoMetric) on synthetic COCO."""
import pytest
from downstream_helpers import (assert_finite_metrics, config_path,
                                mmdet_options, train_then_test)


@pytest.mark.slow
def test_mask_rcnn_train_and_test(cli, pretrain_ckpt, synthetic_data,
                                  tmp_path):
    metrics = train_then_test(cli, config_path('mask_rcnn'),
                              str(tmp_path / 'work'),
                              mmdet_options(synthetic_data, pretrain_ckpt))
    assert_finite_metrics(metrics, ['coco/bbox_mAP', 'coco/segm_mAP'])
