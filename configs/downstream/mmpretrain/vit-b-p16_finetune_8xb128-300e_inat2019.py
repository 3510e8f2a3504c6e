# Fine-tune a GTSA/DINO ViT-B/16: the recipe of
# vit-s-p16_finetune_8xb128-300e_inat2019.py with ViT-B widths
# (768 dims, 12 heads). Not in the paper.
_base_ = ['./vit-s-p16_finetune_8xb128-300e_inat2019.py']

embed_dims = 768
model = dict(
    backbone=dict(arch='deit-base'),  # 768 dims, 12 layers, 12 heads
    head=dict(in_channels=embed_dims))
