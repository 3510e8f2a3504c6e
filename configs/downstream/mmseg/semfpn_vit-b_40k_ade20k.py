# Semantic FPN on a GTSA/DINO-pretrained ViT-B/16, ADE20K, 40k iterations:
# the recipe of semfpn_vit-s_40k_ade20k.py (the reference's, for ViT-S)
# with ViT-B widths (768 dims, 12 heads). Not in the paper.
_base_ = ['./semfpn_vit-s_40k_ade20k.py']

embed_dims = 768
model = dict(
    backbone=dict(
        arch=dict(
            embed_dims=embed_dims,
            num_layers=12,
            num_heads=12,
            feedforward_channels=4 * embed_dims)),
    neck=dict(in_channels=[embed_dims] * 4))
