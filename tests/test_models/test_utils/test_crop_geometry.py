import numpy as np
import pytest
import torch

from gtsa_plugin.models.utils.crop_geometry import (box_area, box_intersection,
                                                    rot90_per_sample,
                                                    rotate_boxes,
                                                    to_crop_frame)


def _box_of_mask(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize('k', [0, 1, 2, 3, -1, 5])
def test_rotate_boxes_matches_rotated_image(k):
    """A box painted into an image lands where rotate_boxes says after the
    image itself is rotated with torch.rot90 (counter-clockwise)."""
    size = 12
    box = torch.tensor([2., 3., 7., 5.])  # x1, y1, x2, y2
    img = torch.zeros(size, size)
    img[3:5, 2:7] = 1
    rotated = torch.rot90(img, k, dims=(-2, -1)).numpy()
    expected = _box_of_mask(rotated)
    got = rotate_boxes(box, torch.tensor(k), torch.tensor(float(size)))
    assert got.tolist() == pytest.approx(expected)


def test_rotate_boxes_matches_numpy_rot90_on_hwc():
    # The transform rotates HWC arrays with np.rot90(img, k): same frame.
    img = np.zeros((10, 10, 3), np.uint8)
    img[1:4, 5:9] = 255
    for k in range(4):
        got = rotate_boxes(torch.tensor([5., 1., 9., 4.]), torch.tensor(k),
                           torch.tensor(10.))
        assert got.tolist() == _box_of_mask(np.rot90(img, k)[..., 0])


def test_to_crop_frame_scales_into_resized_crop():
    crop = torch.tensor([10., 20., 110., 70.])  # 100 x 50 crop
    box = torch.tensor([60., 20., 110., 45.])  # its right half, top half
    got = to_crop_frame(box, crop, torch.tensor(32.))
    assert got.tolist() == pytest.approx([16., 0., 32., 16.])


def test_intersection_and_area():
    a = torch.tensor([[0., 0., 10., 10.]])
    b = torch.tensor([[5., 6., 20., 20.], [11., 0., 12., 1.]])
    inter = box_intersection(a, b)
    assert inter[0].tolist() == [5., 6., 10., 10.]
    assert box_area(inter).tolist() == [20., 0.]


def test_rot90_per_sample_equals_torch_rot90():
    x = torch.randn(6, 3, 5, 5)
    k = torch.tensor([0, 1, 2, 3, -1, 6])
    out = rot90_per_sample(x, k)
    for i in range(6):
        assert torch.equal(out[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)))
    with pytest.raises(ValueError):
        rot90_per_sample(torch.randn(1, 1, 2, 3), torch.tensor([1]))
