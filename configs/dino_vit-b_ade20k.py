# DINO ViT-B/16, 100 epochs on ADE20K training images (no labels): the
# recipe of dino_vit-b_coco.py on the data of gtsa_vit-b_ade20k.py.
_base_ = ['dino_vit-b_coco.py']
train_dataloader = dict(
    dataset=dict(data_root='data/ade/ADEChallengeData2016/images/training'))
