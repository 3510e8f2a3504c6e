"""DINOHead: centred, sharpened teacher; cross-entropy over view pairs."""
import math
import multiprocessing as mp
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS


@pytest.fixture
def hub():
    """A fresh MessageHub, current for the test (epoch 0)."""
    hub = MessageHub.get_instance(f'test_dino_head-{uuid.uuid4()}')
    hub.update_info('epoch', 0)
    return hub


def _head(**kwargs):
    cfg = dict(type='DINOHead', out_channels=5)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _reference_loss(student, teacher, center, s_temp, t_temp):
    """The paper's formula, written as loops over pairs and images."""
    total, pairs = 0.0, 0
    for g, t in enumerate(teacher):
        q = F.softmax((t - center) / t_temp, dim=-1)
        for v, s in enumerate(student):
            if v == g:
                continue
            log_p = F.log_softmax(s / s_temp, dim=-1)
            per_image = [-(q[b] * log_p[b]).sum() for b in range(len(s))]
            total = total + sum(per_image) / len(s)
            pairs += 1
    return total / pairs, pairs


def test_loss_equals_formula_on_a_hand_built_case(hub):
    torch.manual_seed(0)
    head = _head()
    head.center.copy_(torch.tensor([[0.3, -0.2, 0.1, 0.0, 0.5]]))
    student = [torch.randn(3, 5, requires_grad=True) for _ in range(4)]
    teacher = [torch.randn(3, 5) for _ in range(2)]
    expected, pairs = _reference_loss(student, teacher, head.center, 0.1,
                                      0.04)
    assert pairs == 2 * 4 - 2
    out = head.loss(student, teacher)
    assert torch.allclose(out['loss'], expected, atol=1e-5)
    out['loss'].backward()
    assert all(s.grad is not None for s in student)

    # A case small enough to write out by hand: one image, K = 2, one
    # global and one local view, center 0, both temperatures 1.
    head = _head(out_channels=2, student_temp=1.0, teacher_temp=1.0,
                 warmup_teacher_temp=1.0)
    s = torch.tensor([[math.log(3.0), 0.0]])  # p_s = (3/4, 1/4)
    t = torch.tensor([[0.0, math.log(4.0)]])  # p_t = (1/5, 4/5)
    out = head.loss([t.clone(), s], [t])
    hand = -(0.2 * math.log(0.75) + 0.8 * math.log(0.25))
    assert float(out['loss']) == pytest.approx(hand, rel=1e-6)


def test_loss_is_log_k_for_uniform_student(hub):
    head = _head(out_channels=64)
    student = [torch.full((4, 64), 0.7) for _ in range(10)]
    teacher = [torch.randn(4, 64) for _ in range(2)]
    out = head.loss(student, teacher)
    assert float(out['loss']) == pytest.approx(math.log(64), rel=1e-6)


def test_center_moves_by_the_momentum_rule(hub):
    head = _head(center_momentum=0.9)
    head.train()
    old = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    head.center.copy_(old)
    teacher = [torch.randn(3, 5), torch.randn(3, 5)]
    head.loss([torch.randn(3, 5) for _ in range(3)], teacher)
    batch_mean = torch.cat(teacher).mean(0, keepdim=True)
    assert torch.allclose(head.center, 0.9 * old + 0.1 * batch_mean,
                          atol=1e-6)
    # The loss used the centre BEFORE this update (the reference order).
    head.center.copy_(old)
    student = [torch.randn(3, 5) for _ in range(3)]
    out = head.loss(student, teacher)
    expected, _ = _reference_loss(student, teacher, old, 0.1, 0.04)
    assert torch.allclose(out['loss'], expected, atol=1e-5)

    # Evaluation mode leaves the centre alone.
    head.eval()
    frozen = head.center.clone()
    head.loss(student, teacher)
    assert torch.equal(head.center, frozen)
    assert 'center' in head.state_dict()  # restored on resume


def _center_worker(rank, world_size, init_file, out_dir):
    import torch.distributed as dist

    # A forked child must not use the parent's OpenMP pool (it deadlocks).
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    try:
        MessageHub.get_instance(f'center-worker-{rank}')
        head = _head(center_momentum=0.5)
        head.train()
        gen = torch.Generator().manual_seed(rank)
        teacher = [torch.randn(2 + rank, 5, generator=gen) * (rank + 1)
                   for _ in range(2)]
        head.loss([torch.randn(2 + rank, 5) for _ in range(3)], teacher)
        torch.save(dict(center=head.center, rows=torch.cat(teacher)),
                   osp.join(out_dir, f'{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_center_is_all_reduced_over_ranks_with_gloo(tmp_path):
    """Two gloo processes with different teacher batches end with the same
    centre: half the mean teacher logit over all ranks' rows. (The batch
    sizes differ per rank here only to make a per-rank mean detectable;
    the divisor is rows per rank x world size, as the reference.)"""
    ctx = mp.get_context('fork')
    init_file = tmp_path / 'init'
    procs = [ctx.Process(target=_center_worker,
                         args=(r, 2, str(init_file), str(tmp_path)))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    for p in procs:
        if p.is_alive():  # hung: do not leave it behind
            p.kill()
            p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    r0, r1 = (torch.load(tmp_path / f'{r}.pth') for r in range(2))
    # Each rank divides the all-reduced sum by its own rows x world size.
    total = r0['rows'].sum(0, keepdim=True) + r1['rows'].sum(0, keepdim=True)
    for res in (r0, r1):
        expected = 0.5 * total / (len(res['rows']) * 2)
        assert torch.allclose(res['center'], expected, atol=1e-5)
    assert not torch.allclose(
        r0['center'], 0.5 * r0['rows'].mean(0, keepdim=True), atol=1e-3)


def test_teacher_temperature_schedule(hub):
    head = _head(teacher_temp=0.07, warmup_teacher_temp=0.04,
                 warmup_teacher_temp_epochs=3)
    head.eval()  # keep the centre at 0 for the reference
    expected = np.concatenate([np.linspace(0.04, 0.07, 3), [0.07] * 3])
    student = [torch.randn(2, 5) for _ in range(3)]
    teacher = [torch.randn(2, 5) for _ in range(2)]
    for epoch, temp in enumerate(expected):
        hub.update_info('epoch', epoch)
        assert head.teacher_temp_at(epoch) == pytest.approx(temp)
        out = head.loss(student, teacher)
        assert float(out['teacher_temp']) == pytest.approx(temp)
        ref, _ = _reference_loss(student, teacher, torch.zeros(1, 5), 0.1,
                                 temp)
        assert torch.allclose(out['loss'], ref, atol=1e-5)
    assert [head.teacher_temp_at(e) for e in (0, 1, 2)] == \
        pytest.approx([0.04, 0.055, 0.07])
    # Defaults (0.04, 0.04, 0 epochs): constant.
    assert _head().teacher_temp_at(0) == _head().teacher_temp_at(50) == 0.04


def test_agreement_counts_matching_argmax_over_loss_pairs(hub):
    head = _head(out_channels=3)
    eye = torch.eye(3) * 5
    # 2 globals, 1 local, batch of 2. Teacher argmax: g0 -> (0, 1),
    # g1 -> (2, 2). Student argmax: v0 -> (0, 1), v1 -> (2, 0),
    # v2 -> (0, 2). Pairs: (g0,v1) 0/2, (g0,v2) 1/2, (g1,v0) 0/2,
    # (g1,v2) 1/2 -> 2 of 8. Pairs v == g are not counted (v0 matches g0
    # on both images, v1 matches g1 on one).
    teacher = [eye[[0, 1]], eye[[2, 2]]]
    student = [eye[[0, 1]], eye[[2, 0]], eye[[0, 2]]]
    out = head.loss(student, teacher)
    assert float(out['agreement']) == pytest.approx(2 / 8)


def test_rejects_bad_inputs_and_args(hub):
    head = _head()
    with pytest.raises(ValueError):
        head.loss([torch.randn(2, 5)], [torch.randn(2, 5)])  # no pair
    with pytest.raises(ValueError):
        head.loss([torch.randn(2, 4)] * 3, [torch.randn(2, 4)] * 2)  # K
    with pytest.raises(ValueError, match='student_temp'):
        _head(student_temp=0)
    with pytest.raises(ValueError, match='center_momentum'):
        _head(center_momentum=1.5)
