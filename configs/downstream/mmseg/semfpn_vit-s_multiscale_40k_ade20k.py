# Semantic FPN on ViT-S/16 with a real feature pyramid: the maps after blocks
# 3, 6, 9 and 12 are resampled to strides 4/8/16/32 by ViTMultiScaleAdapter
# (as in the detection recipe) before FPN; FPNHead then upsamples and sums
# them at stride 4. Everything else is semfpn_vit-s_40k_ade20k.py.
_base_ = ['./semfpn_vit-s_40k_ade20k.py']

embed_dims = 384
model = dict(
    neck=[
        dict(
            type='ViTMultiScaleAdapter',
            in_channels=embed_dims,
            scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
            # 2 images per GPU: synchronise the statistics across GPUs.
            norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=4),
    ],
    decode_head=dict(feature_strides=[4, 8, 16, 32]))
