# DINO ViT-S/16, 100 epochs on ADE20K training images (no labels), 8 x 64:
# the recipe of dino_vit-s_coco.py on the data of gtsa_vit-s_ade20k.py.
_base_ = ['dino_vit-s_coco.py']
train_dataloader = dict(
    dataset=dict(data_root='data/ade/ADEChallengeData2016/images/training'))
