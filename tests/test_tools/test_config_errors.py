"""Out-of-range config values fail when the model is built, naming the
config key, also through the command line (a real process: exit status and
stderr are what a user sees)."""
import pytest
import reliability_helpers as rh


@pytest.mark.slow
def test_negative_loss_weight_exits_nonzero_naming_the_key(
        synthetic_scenes, tmp_path):
    proc = rh.run(rh.train_cmd(
        rh.GTSA_DEMO, str(tmp_path / 'work'),
        [*rh.tiny_options(synthetic_scenes['unlabeled']),
         'model.loss_weights.pc=-1']))
    assert proc.returncode != 0
    assert 'model.loss_weights.pc must be >= 0' in proc.stderr, \
        rh.tail(proc.stderr)
