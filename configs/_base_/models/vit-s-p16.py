# The ViT-S/16 backbone that GTSA and DINO pretrain (384 dims, 12 layers,
# 6 heads, qkv bias, LayerNorm eps 1e-6, drop path 0.1), with ImageNet
# normalisation on the device.
# DINOVisionTransformer is mmpretrain's VisionTransformer (same weights and
# keys) with the reference's (facebookresearch/dino's) position-embedding
# resizing for the 96 px local crops and its initialisation: every Linear
# truncated-normal std 0.02 with zero bias, LayerNorm 1/0 (init_cfg below,
# applied after mmpretrain's own FFN init), cls_token and pos_embed
# truncated-normal std 0.02.
model = dict(
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='DINOVisionTransformer',
        # mmpretrain's ViT-S/16 of DeiT: 384 dims, 12 layers, 6 heads, MLP
        # 1536.
        arch='deit-small',
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=True,
        with_cls_token=True,
        out_type='featmap',
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]))
