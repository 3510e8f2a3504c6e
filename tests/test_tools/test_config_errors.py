"""Out-of-range config values fail when the model is built, naming the
config key, also through the command line (a real process: exit status and
stderr are what a user sees)."""
import process_helpers as pr
import pytest
import repo_helpers as rp


@pytest.mark.slow
def test_negative_loss_weight_exits_nonzero_naming_the_key(
        synthetic_scenes, tmp_path):
    proc = pr.run(pr.train_cmd(
        rp.GTSA_DEMO, str(tmp_path / 'work'),
        [*pr.tiny_options(synthetic_scenes['unlabeled']),
         'model.loss_weights.pc=-1']))
    assert proc.returncode != 0
    assert 'model.loss_weights.pc must be >= 0' in proc.stderr, \
        pr.tail(proc.stderr)
