# GTSA ViT-B/16, 100 epochs on COCO train2017 images (no labels), 8 x 64:
# the reference's gtsa_base with the recipe of gtsa_vit-s_coco.py (the
# reference uses one recipe for both sizes).
_base_ = [
    '_base_/models/gtsa_vit-b-p16.py',
    '_base_/datasets/unlabeled_gtsa_multicrop.py',
    '_base_/schedules/selfsup_adamw-coslr_100e.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/coco/train2017'))
