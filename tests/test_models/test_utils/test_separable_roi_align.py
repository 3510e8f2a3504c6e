"""separable_roi_align equals torchvision's RoIAlign (aligned, adaptive
sampling), values and gradients."""
import pytest
import torch
from torchvision.ops import roi_align

from gtsa_plugin.models.utils.separable_roi_align import separable_roi_align


@pytest.mark.parametrize('size,out', [(6, 4), (14, 10), (3, 4)])
def test_matches_torchvision(size, out):
    g = torch.Generator().manual_seed(size)
    maps = torch.randn(3, 5, size, size, generator=g, dtype=torch.float64,
                       requires_grad=True)
    xy = torch.rand(60, 2, generator=g, dtype=torch.float64) * size
    wh = torch.rand(60, 2, generator=g, dtype=torch.float64) * size
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1).clamp(-0.3, size + 0.3)
    boxes[:3, 2:] = boxes[:3, :2]  # empty boxes pool zeros
    boxes[3] = torch.tensor([0., 0., size, size])  # the whole map
    rows = torch.randint(0, 3, (60, ), generator=g)
    ref = roi_align(maps, torch.cat([rows[:, None].double(), boxes], 1),
                    out, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    got = separable_roi_align(maps, rows, boxes, out)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    assert torch.all(got[:3] == 0)
    grad = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    ref_grad, = torch.autograd.grad(ref, maps, grad)
    got_grad, = torch.autograd.grad(got, maps, grad)
    torch.testing.assert_close(got_grad, ref_grad, rtol=0, atol=1e-12)
