# Linear probe of a frozen GTSA/DINO ViT-S/16 on an ImageNet-style folder:
#   data/imagenet/{train,val}/<class>/*.jpg
#
#   python tools/train.py CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
# with CONFIG this file; for N classes add
#       model.head.num_classes=N data_preprocessor.num_classes=N
# and for N < 5 also val_evaluator.topk=1 test_evaluator.topk=1 (top-5
# accuracy needs 5 classes; tools/train.py checks all of it first).
_base_ = ['./_base_/vit-s-p16_linear-probe.py', './_base_/imagenet-folder.py']

# Join recipe and data: batch per GPU, the recipe's augmentation, classes.
train_dataloader = dict(
    batch_size=512, dataset=dict(pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(batch_size=512)
test_dataloader = val_dataloader
model = dict(
    head=dict(num_classes={{_base_.data_preprocessor.num_classes}}))
