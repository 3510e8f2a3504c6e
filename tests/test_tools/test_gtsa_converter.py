"""tools/model_converters/gtsa_official_to_plugin.py on a hand-built
reference-layout checkpoint."""
import argparse
import re
import subprocess
import sys

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS


def _to_reference_vit_key(key: str) -> str:
    """Our mmpretrain ViT key -> the reference's timm-style key."""
    rules = [(r'^patch_embed\.projection\.', 'patch_embed.proj.'),
             (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
             (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
             (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
             (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
             (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
             (r'^ln1\.', 'norm.')]
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    return key


def _reference_state(model):
    ours_to_ref = {'backbone.': 'base_encoder.',
                   'target_net.module.0.': 'momentum_encoder.',
                   'neck.': 'base_projector.',
                   'target_net.module.1.': 'momentum_projector.',
                   'head.predictor.': 'base_predictor.',
                   'rot_head.mlp.': 'rot_predictor.'}
    ref = {}
    for key, value in model.state_dict().items():
        for ours, theirs in ours_to_ref.items():
            if key.startswith(ours):
                rest = key[len(ours):]
                if 'encoder' in theirs:
                    rest = _to_reference_vit_key(rest)
                ref['module.' + theirs + rest] = torch.randn_like(value) \
                    if value.is_floating_point() else value
                break
    return ref


def test_reference_checkpoint_converts_and_loads_strictly(repo_root,
                                                          tmp_path):
    cfg = Config.fromfile(f'{repo_root}/configs/gtsa_vit-s_coco.py')
    model = MODELS.build(cfg.model)
    ref_state = _reference_state(model)
    assert 'module.base_encoder.blocks.11.mlp.fc2.weight' in ref_state
    assert 'module.rot_predictor.8.weight' in ref_state
    src = tmp_path / 'checkpoint-99.pth'
    torch.save(dict(model=ref_state, epoch=99,
                    args=argparse.Namespace(batch_size=64)), src)
    dst = tmp_path / 'converted.pth'
    subprocess.run([
        sys.executable,
        f'{repo_root}/tools/model_converters/gtsa_official_to_plugin.py',
        str(src), str(dst)
    ], check=True, cwd=repo_root, capture_output=True)
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['epoch'] == 99
    model.load_state_dict(converted['state_dict'], strict=True)
    sd = model.state_dict()
    pairs = [('backbone.layers.3.attn.qkv.weight',
              'module.base_encoder.blocks.3.attn.qkv.weight'),
             ('target_net.module.0.ln1.bias',
              'module.momentum_encoder.norm.bias'),
             ('target_net.module.1.blocks.1.0.weight',
              'module.momentum_projector.blocks.1.0.weight'),
             ('head.predictor.proj.weight',
              'module.base_predictor.proj.weight'),
             ('rot_head.mlp.7.weight', 'module.rot_predictor.7.weight'),
             ('backbone.patch_embed.projection.weight',
              'module.base_encoder.patch_embed.proj.weight')]
    for ours, theirs in pairs:
        assert torch.equal(sd[ours], ref_state[theirs]), ours
    # The teacher counts as initialised: the next EMA step averages.
    assert int(sd['target_net.steps']) == 1


def test_unknown_keys_are_named(repo_root, tmp_path):
    src = tmp_path / 'odd.pth'
    torch.save(dict(model={'mystery.weight': torch.zeros(1)}), src)
    proc = subprocess.run([
        sys.executable,
        f'{repo_root}/tools/model_converters/gtsa_official_to_plugin.py',
        str(src), str(tmp_path / 'out.pth')
    ], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0 and 'mystery.weight' in proc.stderr
