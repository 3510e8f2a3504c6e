# Fine-tune a GTSA/DINO ViT-S/16 on iNaturalist 2019 (1010 classes), the
# GTSA paper's classification benchmark (GTSA: 59.7 top-1, DINO: 54.8).
#   data/inat2019/{train2019.json, val2019.json, train_val2019/...}
_base_ = ['./_base_/vit-s-p16_finetune.py', './_base_/inat2019.py']

# Join recipe and data: batch per GPU, the recipe's augmentation, classes.
train_dataloader = dict(
    batch_size=128, dataset=dict(pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
model = dict(
    head=dict(num_classes={{_base_.data_preprocessor.num_classes}}))
