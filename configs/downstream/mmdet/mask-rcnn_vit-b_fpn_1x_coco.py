# Mask R-CNN + FPN on a GTSA/DINO-pretrained ViT-B/16, COCO 1x schedule:
# the recipe of mask-rcnn_vit-s_fpn_1x_coco.py (the reference's, for
# ViT-S) with ViT-B widths (768 dims, 12 heads); blocks 4/6/8/12 feed the
# multi-scale adapter as for ViT-S. Not in the paper.
_base_ = ['./mask-rcnn_vit-s_fpn_1x_coco.py']

embed_dims = 768
model = dict(
    backbone=dict(arch='deit-base'),  # 768 dims, 12 layers, 12 heads
    neck=[
        dict(
            type='ViTMultiScaleAdapter',
            in_channels=embed_dims,
            scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
            norm_cfg=dict(type='BN')),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5),
    ])
