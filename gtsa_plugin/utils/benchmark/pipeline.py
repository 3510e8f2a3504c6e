"""Throughput of a config's data pipeline, as in one dataloader worker."""
import copy
import os
import os.path as osp
import random
import shutil
import tempfile
import time

import numpy as np
import torch

from .setup import PIPELINE_IMAGE_SIZE
from .timing import summarize


def write_scenes(root: str, num_images: int, seed: int):
    """``num_images`` real-size JPEGs from the synthetic scene generator;
    returns their paths."""
    from gtsa_plugin.datasets import synthetic
    width, height = PIPELINE_IMAGE_SIZE
    # One extra scene: the generator always keeps one for validation.
    paths = synthetic.generate_synthetic_scenes(
        root, num_images=num_images + 1, seed=seed,
        image_size=(width, height), val_fraction=0.0)
    folder = paths['unlabeled']
    files = sorted(f for f in os.listdir(folder) if f.endswith('.jpg'))
    return [osp.join(folder, f) for f in files[:num_images]]


class _Timed:
    """Transform proxy adding its call time to ``totals[label]``."""

    def __init__(self, transform, label, totals):
        self.transform, self.label, self.totals = transform, label, totals

    def __call__(self, results):
        start = time.perf_counter()
        out = self.transform(results)
        self.totals[self.label] = self.totals.get(self.label, 0.0) + \
            time.perf_counter() - start
        return out


def _label(transform) -> str:
    name = type(transform).__name__
    inner = getattr(transform, 'transforms', None)
    if name == 'RandomApply' and inner is not None:
        inner = getattr(inner, 'transforms', inner)
        name += '(' + ','.join(type(t).__name__ for t in inner) + ')'
    return name


def _instrument(pipeline, totals):
    """Time every top-level transform and, inside a multi-crop transform,
    crop+resize and each photometric transform."""
    from gtsa_plugin.datasets.transforms import BaseMultiCrop
    for i, t in enumerate(pipeline.transforms):
        pipeline.transforms[i] = _Timed(t, 'total:' + type(t).__name__,
                                        totals)
        if isinstance(t, BaseMultiCrop):
            composes = list(t.pipelines) + [
                p for p in getattr(t, 'view_pipelines', []) if p is not None]
            for compose in composes:
                compose.transforms = [
                    t2 if isinstance(t2, _Timed) else
                    _Timed(t2, 'photometric:' + _label(t2), totals)
                    for t2 in compose.transforms
                ]
            original = t.crop_resize

            def crop_resize(*a, _original=original, **kw):
                start = time.perf_counter()
                out = _original(*a, **kw)
                totals['multicrop:crop_resize'] = totals.get(
                    'multicrop:crop_resize', 0.0) + time.perf_counter() - start
                return out

            t.crop_resize = crop_resize


def measure_pipelines(cfgs, num_images: int, seed: int,
                      passes: int = 1):
    """Time the train pipelines of ``cfgs`` on the same JPEGs, interleaved
    per image (pipeline A on image i, B on image i, B on i+1, A on i+1,
    ...), so that drift hits all alike; one result dict per config."""
    import cv2
    from mmengine.dataset import Compose
    pipeline_cfgs = [copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
                     for cfg in cfgs]
    mp_cfg = cfgs[0].get('env_cfg', {}).get('mp_cfg', {}) or {}
    cv2_threads = int(mp_cfg.get('opencv_num_threads', 0))
    root = tempfile.mkdtemp(prefix='gtsa_benchmark_')
    old_torch, old_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    try:
        paths = write_scenes(osp.join(root, 'scenes'), num_images, seed)
        # As in one dataloader worker: one torch thread, the config's
        # OpenCV threads.
        torch.set_num_threads(1)
        cv2.setNumThreads(cv2_threads)
        pipelines = [Compose(copy.deepcopy(p)) for p in pipeline_cfgs]
        np.random.seed(seed + 1)
        random.seed(seed + 1)
        for pipeline in pipelines:  # warm-up (imports, caches)
            for idx, path in enumerate(paths[:2]):
                pipeline(dict(img_path=path, sample_idx=idx))

        np.random.seed(seed)
        random.seed(seed)
        per_image = [[] for _ in pipelines]
        for p in range(passes):
            for idx, path in enumerate(paths):
                order = list(range(len(pipelines)))
                if (idx + p) % 2:
                    order.reverse()
                for j in order:
                    start = time.perf_counter()
                    pipelines[j](dict(img_path=path, sample_idx=idx))
                    per_image[j].append(time.perf_counter() - start)

        # Stage breakdown: a separate, instrumented pass per pipeline.
        stages = []
        for pipeline_cfg in pipeline_cfgs:
            totals = {}
            instrumented = Compose(copy.deepcopy(pipeline_cfg))
            _instrument(instrumented, totals)
            np.random.seed(seed)
            random.seed(seed)
            for idx, path in enumerate(paths):
                instrumented(dict(img_path=path, sample_idx=idx))
            stages.append({k: v / len(paths) * 1e3
                           for k, v in sorted(totals.items())})
    finally:
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv2)
        shutil.rmtree(root, ignore_errors=True)
    results = []
    for times, stage in zip(per_image, stages):
        stats = summarize(times)
        results.append(dict(
            pipeline_img_per_s_per_worker=len(times) / sum(times),
            pipeline_images=len(paths),
            pipeline_passes=passes,
            pipeline_image_size=list(PIPELINE_IMAGE_SIZE),
            pipeline_ms_per_img=stats['median'] * 1e3,
            pipeline_ms_per_img_spread=dict(
                (k, v * 1e3) for k, v in stats.items()),
            pipeline_stage_ms_per_img=stage,
            pipeline_threads=dict(torch=1, opencv=cv2_threads),
        ))
    return results
