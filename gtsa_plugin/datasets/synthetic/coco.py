"""COCO annotations of rendered instance masks."""
from __future__ import annotations

from typing import List

import cv2
import numpy as np


def tight_bbox(mask: np.ndarray) -> List[int]:
    """``[x, y, w, h]`` of the non-zero pixels of a bool/uint8 mask."""
    return [int(v) for v in cv2.boundingRect(mask.view(np.uint8))]


def _outset(contour: np.ndarray) -> np.ndarray:
    """Move a closed contour through boundary pixel centres half a pixel out.

    cv2 contours join the centres of boundary pixels, which lose half a
    pixel all round when rasterised as polygons; a miter offset by 0.5 puts
    straight edges on the pixel borders (exactly for axis-aligned runs).
    """
    p = contour.astype(np.float64) + 0.5  # pixel centres, our convention
    nxt = np.roll(p, -1, 0)
    edge = nxt - p
    length = np.maximum(np.linalg.norm(edge, axis=1, keepdims=True), 1e-9)
    signed_area = 0.5 * np.sum(p[:, 0] * nxt[:, 1] - nxt[:, 0] * p[:, 1])
    normal = np.stack([edge[:, 1], -edge[:, 0]], 1) / length
    if signed_area < 0:
        normal = -normal
    n_in, n_out = np.roll(normal, 1, 0), normal  # edges into / out of vertex
    denom = np.maximum(1 + np.sum(n_in * n_out, 1, keepdims=True), 0.5)
    return p + 0.5 * (n_in + n_out) / denom


def mask_to_coco_segmentation(mask: np.ndarray) -> object:
    """COCO ``segmentation`` of a boolean (H, W) mask.

    Polygons (outer contours from ``cv2.findContours``, moved onto pixel
    borders, contours with < 3 points skipped) when they reproduce the mask
    (IoU >= 0.9 and tight box within 1 px after pycocotools rasterisation);
    otherwise, e.g. for masks with holes, uncompressed-to-str RLE
    ``{'size': [H, W], 'counts': str}``.
    """
    from pycocotools import mask as mask_utils

    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    contours, hierarchy = cv2.findContours(m8, cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    has_hole = hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())
    polys = [
        np.round(_outset(c.reshape(-1, 2)), 2).ravel().tolist()
        for c in contours if len(c) >= 3
    ]
    if polys and not has_hole:
        drawn = mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)
        inter = np.logical_and(drawn, mask).sum()
        union = np.logical_or(drawn, mask).sum()
        if drawn.any() and inter >= 0.9 * union and max(
                abs(a - b)
                for a, b in zip(tight_bbox(drawn), tight_bbox(mask))) <= 1:
            return polys
    rle = mask_utils.encode(np.asfortranarray(m8))
    return {'size': [int(h), int(w)], 'counts': rle['counts'].decode('ascii')}
