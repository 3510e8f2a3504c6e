import itertools

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def test_negative_cosine_loss_hand_values():
    loss = MODELS.build(dict(type='NegativeCosineLoss'))
    pred = torch.tensor([[1., 0.], [1., 1.]])[:, :, None]  # (K=2, C=2, 1)
    target = torch.tensor([[0., 1.], [2., 2.]])[:, :, None]
    assert float(loss(pred, target)) == pytest.approx(-0.5)
    w = torch.tensor([0., 1.])
    assert float(loss(pred, target, w)) == pytest.approx(-1.0)
    summed = MODELS.build(dict(type='NegativeCosineLoss', reduction='sum'))
    assert float(summed(pred, target)) == pytest.approx(-1.0)


def _brute_force_pc(student, teacher, m):
    """Direct transcription of the rule, one pair at a time."""
    s = F.normalize(student, dim=-1)
    t = F.normalize(teacher, dim=-1)
    sim = s @ t.T
    best_s = sorted(sim.max(1).values.tolist(), reverse=True)[:m]
    best_t = sorted(sim.max(0).values.tolist(), reverse=True)[:m]
    return -0.5 * (sum(best_s) / len(best_s) + sum(best_t) / len(best_t))


@pytest.mark.parametrize('ns,nt,expected_m', [(9, 16, 2), (121, 144, 3)])
def test_patch_correspondence_matches_brute_force(ns, nt, expected_m):
    torch.manual_seed(0)
    b, v, t, c = 2, 3, 2, 5
    loss = MODELS.build(dict(type='PatchCorrespondenceLoss',
                             num_matches=(3, 2), cells_threshold=100))
    student = torch.randn(b, v, ns, c)
    teacher = torch.randn(b, t, nt, c)
    got = loss.pair_losses(student, teacher)
    assert got.shape == (b, v, t)
    for i, j, k in itertools.product(range(b), range(v), range(t)):
        ref = _brute_force_pc(student[i, j], teacher[i, k], expected_m)
        assert float(got[i, j, k]) == pytest.approx(ref, abs=1e-5)
    weight = torch.zeros(b, v, t)
    weight[0, 1, 1] = 1
    assert float(loss(student, teacher, weight)) == pytest.approx(
        float(got[0, 1, 1]), abs=1e-6)


def test_patch_correspondence_hand_case():
    """Student cells are copies of two teacher cells: with one match kept,
    both directions find a perfect match (-1)."""
    loss = MODELS.build(dict(type='PatchCorrespondenceLoss',
                             num_matches=(1, 1)))
    teacher = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]])[None, None]
    student = torch.tensor([[1., 0.], [0., 3.]])[None, None]
    assert float(loss(student, teacher)) == pytest.approx(-1.0)
    # Keeping 2: teacher's third cell matches best at cos 0 -> (-1 + -0.5)/2
    loss2 = MODELS.build(dict(type='PatchCorrespondenceLoss',
                              num_matches=(2, 2)))
    assert float(loss2(student, teacher)) == pytest.approx(-1.0)
    loss3 = MODELS.build(dict(type='PatchCorrespondenceLoss',
                              num_matches=(3, 3)))
    # student side: both perfect (m capped at 2 cells) -> -1;
    # teacher side: 1, 1, 0 -> -2/3; mean -> -5/6
    assert float(loss3(student, teacher)) == pytest.approx(-5 / 6)


def test_patch_correspondence_gradient_only_through_matches():
    loss = MODELS.build(dict(type='PatchCorrespondenceLoss',
                             num_matches=(1, 1)))
    student = torch.tensor([[[1., 0.], [0., 1.]]]).unsqueeze(0)
    student.requires_grad_(True)
    teacher = torch.tensor([[[1., 0.1]]]).unsqueeze(0)
    loss(student, teacher).backward()
    # Only the first student cell (the better match) receives gradient.
    assert student.grad[0, 0, 0].abs().sum() > 0
    assert student.grad[0, 0, 1].abs().sum() == 0


def test_rotation_head_learns_and_reports_accuracy():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='RotationHead', in_channels=8,
                             hid_channels=16, bottleneck_channels=8))
    feats = torch.randn(64, 8)
    targets = feats[:, :4].argmax(1)  # a learnable rule
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        out = head.loss(feats, targets)
        first = first if first is not None else float(out['loss'])
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
    assert first == pytest.approx(float(torch.log(torch.tensor(4.))), abs=0.3)
    assert float(out['acc']) > 0.9
    assert head(feats).shape == (64, 4)
