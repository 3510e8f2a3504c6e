# Semantic FPN on a GTSA/DINO-pretrained ViT-B/16, ADE20K, 40k iterations:
# the recipe of semfpn_vit-s_40k_ade20k.py (the reference's, for ViT-S)
# with ViT-B widths (768 dims, 12 heads). Not in the paper.
_base_ = ['./semfpn_vit-s_40k_ade20k.py']

embed_dims = 768
model = dict(
    backbone=dict(arch='deit-base'),  # 768 dims, 12 layers, 12 heads
    neck=dict(in_channels=[embed_dims] * 4))
