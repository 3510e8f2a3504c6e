# GTSA with a ViT-B/16 student and teacher: the reference's `gtsa_base`
# (768 dims, 12 layers, 12 heads) with main_pretrain.py's default head
# widths. Only the inputs that read the backbone grow to 768: the projector
# stays 768 -> 384 -> 384 -> 768 (--projector_dim 384; its first block has
# no residual since the widths differ), the predictor 768 -> 768 -> 768.
# The reference hard-codes the rotation head's input as 384, which fails for
# ViT-B; here it takes the 768-d mean patch token.
_base_ = ['./gtsa_vit-s-p16.py']

embed_dims = 768
model = dict(
    backbone=dict(
        # mmpretrain's ViT-B/16: 768 dims, 12 layers, 12 heads, MLP 3072.
        arch='deit-base'),
    neck=dict(in_channels=embed_dims),
    rot_head=dict(in_channels=embed_dims))
