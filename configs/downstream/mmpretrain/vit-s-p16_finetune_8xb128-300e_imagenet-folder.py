# Fine-tune a GTSA/DINO ViT-S/16 on an ImageNet-style folder:
#   data/imagenet/{train,val}/<class>/*.jpg   (set num_classes below)
#
#   python tools/train.py \
#       configs/downstream/mmpretrain/vit-s-p16_finetune_8xb128-300e_imagenet-folder.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
#   # other class counts: model.head.num_classes=N data_preprocessor.num_classes=N
_base_ = ['./_base_/vit-s-p16_finetune.py']
