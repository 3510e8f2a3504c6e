"""Frozen-feature probes of pretrained backbones (dense and crop-level).

Imported by the analysis tools, not by ``gtsa_plugin`` itself: nothing here
is registered.
"""
