# GTSA ViT-B/16, 100 epochs on ADE20K training images (no labels), 8 x 64.
_base_ = ['gtsa_vit-b_coco.py']
train_dataloader = dict(
    dataset=dict(data_root='data/ade/ADEChallengeData2016/images/training'))
