"""The pinned stack is importable with mmcv's compiled ops."""
import importlib.metadata as md

import torch


def test_pinned_versions():
    expected = {'torch': '2.14.1', 'torchvision': '0.29.1',
                'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmpretrain': '1.2.0',
                'mmdet': '3.3.0', 'mmsegmentation': '1.2.2'}
    found = {name: md.version(name).split('+')[0] for name in expected}
    assert found == expected


def test_mmcv_compiled_ops_run_on_cpu():
    import mmcv._ext  # noqa: F401
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    dets, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feat = torch.arange(16.).view(1, 1, 4, 4)
    roi = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2,
                   aligned=True)(feat, roi)
    # Mean of each 2x2 quadrant of the 4x4 ramp.
    assert torch.allclose(out.view(-1), torch.tensor([2.5, 4.5, 10.5, 12.5]))


def test_plugin_registers_into_the_toolkits():
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import WEIGHT_INITIALIZERS
    from mmpretrain.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
    from mmseg.registry import MODELS as SEG_MODELS

    import gtsa_plugin  # noqa: F401
    for name in ('GTSA', 'GTSAHead', 'RotationHead', 'DenseProjector',
                 'NegativeCosineLoss', 'PatchCorrespondenceLoss'):
        assert MODELS.get(name) is not None, name
    assert TRANSFORMS.get('GTSAMultiCrop') and TRANSFORMS.get('LoadImageRGB')
    assert DATASETS.get('UnlabeledImageFolder')
    assert HOOKS.get('DataStatsHook')
    assert DET_MODELS.get('ViTMultiScaleAdapter')
    assert SEG_MODELS.get('ViTMultiScaleAdapter')
    assert WEIGHT_INITIALIZERS.get('SSLPretrained')
