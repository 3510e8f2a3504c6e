"""Semantic FPN on the tiny ViT (both configs): train 2 iterations with
tools/train.py and evaluate with tools/test.py (mmseg's IoUMetric) on
synthetic ADE20K."""
import pytest
from downstream_helpers import (assert_finite_metrics, config_path,
                                mmseg_options, train_then_test)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['semfpn', 'semfpn_multiscale'])
def test_semfpn_train_and_test(cli, pretrain_ckpt, synthetic_data, tmp_path,
                               name):
    options = mmseg_options(synthetic_data, pretrain_ckpt,
                            multiscale=name == 'semfpn_multiscale')
    metrics = train_then_test(cli, config_path(name), str(tmp_path / 'work'),
                              options)
    assert_finite_metrics(metrics, ['mIoU', 'aAcc'])
