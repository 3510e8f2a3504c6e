# DINO with a ViT-B/16 student and teacher: facebookresearch/dino's ViT-B/16
# recipe (the released dino_vitbase16_pretrain args): 768-d class token into
# the same 2048 -> 2048 -> 256 head and 65536 prototypes, norm of the last
# layer kept fixed (norm_last_layer true; "false is only safe with
# vit_small"), last layer frozen for 3 epochs, teacher temperature
# 0.04 -> 0.07 over the first 50 epochs, momentum 0.996 -> 1, drop path 0.1.
_base_ = ['./dino_vit-s-p16.py']

embed_dims = 768
model = dict(
    backbone=dict(
        # mmpretrain's ViT-B/16: 768 dims, 12 layers, 12 heads, MLP 3072.
        arch='deit-base'),
    neck=dict(in_channels=embed_dims, norm_last_layer=True),
    head=dict(
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=50),
    freeze_last_layer=3)
