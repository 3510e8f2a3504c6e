# Linear probe of a GTSA/DINO ViT-B/16: the recipe of
# vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py with ViT-B widths
# (768 dims, 12 heads). Not in the paper.
_base_ = ['./vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py']

embed_dims = 768
model = dict(
    backbone=dict(arch='deit-base'),  # 768 dims, 12 layers, 12 heads
    neck=dict(input_features=embed_dims),
    head=dict(in_channels=embed_dims))
