# Every target that runs code depends on `install`: tools/install.sh takes
# seconds when nothing is missing, and it is the one place that knows how to
# get mmcv's compiled ops onto a new machine.
PYTHON ?= python
export PYTHON

.PHONY: help install test demo

help:
	@echo "make install  install torch, mmcv (with ops), the pinned OpenMMLab stack and gtsa_plugin (editable)"
	@echo "make test     install, then run the test suite"
	@echo "make demo     install, then train the tiny ViT demo config"
	@echo "Set PIP_FIND_LINKS to a folder with a prebuilt mmcv 2.1.0 wheel to skip its 25-45 min build."

install:
	bash tools/install.sh

test: install
	$(PYTHON) -m pytest tests

demo: install
	$(PYTHON) tools/train.py configs/gtsa_vit-tiny_demo.py
