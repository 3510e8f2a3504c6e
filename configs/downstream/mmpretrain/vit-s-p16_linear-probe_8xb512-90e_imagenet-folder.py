# Linear probe of a frozen GTSA/DINO ViT-S/16 on an ImageNet-style folder:
#   data/imagenet/{train,val}/<class>/*.jpg
#
#   python tools/train.py \
#       configs/downstream/mmpretrain/vit-s-p16_linear-probe_8xb512-90e_imagenet-folder.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
#   # other class counts: model.head.num_classes=N
_base_ = ['./_base_/vit-s-p16_linear-probe.py']
