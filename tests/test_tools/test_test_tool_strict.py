"""tools/test.py refuses a checkpoint that does not fit the config's model (it used to print a
metric of a partly random model with exit 0); ``--non-strict`` is the expert's opt-out."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import REPO, load_tool
from pt3kd_mm.testing import run_tool as run
from pt3kd_mm.utils.checkpoint import CheckpointMismatchError

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')


class TwoLayers(BaseModel):

    def __init__(self, width=4):
        super().__init__()
        self.a = torch.nn.Linear(3, width)
        self.b = torch.nn.Linear(width, 2)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.b(self.a(inputs))


class Recorder(Hook):

    def __init__(self):
        self.seen = []

    def after_load_checkpoint(self, runner, checkpoint):
        self.seen.append(sorted(checkpoint['state_dict']))


def toy_runner(tmp_path, model):
    return Runner(model=model, work_dir=str(tmp_path / 'work'),
                  experiment_name=f'strict_{abs(hash(str(tmp_path)))}',
                  default_scope='mmdet3d')


def test_checked_load_hook_refuses_and_opts_out(tmp_path):
    """tools/test.py's loading, in process: another width and a missing key fail naming the
    file; ``--non-strict`` (strict=False) loads what fits; hooks still see the checkpoint."""
    hook_cls = load_tool('tools/test.py').CheckedLoadHook
    torch.manual_seed(0)
    other = TwoLayers(width=8).state_dict()
    other.pop('b.bias')
    ckpt = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in other.items()}, 'meta': {}}, ckpt)
    runner = toy_runner(tmp_path, TwoLayers())
    recorder = Recorder()
    runner.register_hook(recorder)
    with pytest.raises(CheckpointMismatchError) as err:
        hook_cls(ckpt).before_run(runner)
    msg = str(err.value)
    assert f'checkpoint {ckpt} does not fit the TwoLayers being loaded' in msg
    assert '3 tensor(s) of another shape: a.weight (checkpoint (8, 3), model (4, 3))' in msg
    assert '1 key(s) of the TwoLayers missing from the checkpoint: b.bias' in msg
    assert msg.endswith('load what fits anyway with tools/test.py --non-strict.')
    assert recorder.seen  # after_load_checkpoint ran before the check, as in the runner
    before = runner.model.b.bias.clone()
    hook_cls(ckpt, strict=False).before_run(runner)
    assert torch.equal(runner.model.b.bias, before)  # not in the file: untouched
    # the model's own weights (DDP's module. prefix stripped) load strictly
    torch.save({'state_dict': {f'module.{k}': v * 0 for k, v in
                               runner.model.state_dict().items()}}, ckpt)
    hook_cls(ckpt).before_run(runner)
    assert not runner.model.a.weight.any()


def data_options(root):
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.num_workers=0']


def save_model(path, extra=None, drop=(), **backbone):
    """The tiny Point-MAE's weights (``backbone`` overrides: another model), without the keys
    in ``drop``, with ``extra`` keys."""
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.update(backbone)
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).state_dict()
    state = {k: v for k, v in state.items() if k not in drop}
    state.update(extra or {})
    torch.save({'state_dict': state, 'meta': {}}, path)


@pytest.mark.e2e
def test_another_models_checkpoint_fails(demo_root, tmp_path):
    ckpt = str(tmp_path / 'other.pth')
    save_model(ckpt, embed_dims=48, depth=1)  # another width and depth
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', TINY, ckpt, '--work-dir', str(tmp_path / 'w'),
         *data_options(demo_root)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert 'recon/chamfer' not in out
    assert f'CheckpointMismatchError: checkpoint {ckpt} does not fit the PointMAE' in out
    assert 'tensor(s) of another shape: backbone.patch_embed.second_fc2.weight ' \
           '(checkpoint (48, 512), model (32, 512))' in out
    assert 'key(s) of the PointMAE missing from the checkpoint: backbone.transformer.blocks.1.' \
        in out
    assert 'tools/test.py --non-strict' in out


@pytest.mark.e2e
def test_fitting_checkpoint_and_the_non_strict_opt_out(demo_root, tmp_path):
    ckpt = str(tmp_path / 'own.pth')
    save_model(ckpt, extra={'backbone.extra_decoder.weight': torch.zeros(2)})
    out = run([sys.executable, 'tools/test.py', TINY, ckpt, '--work-dir', str(tmp_path / 'a'),
               *data_options(demo_root)])
    assert 'recon/chamfer_l2_x1000' in out
    assert 'not used by the PointMAE, ignored: backbone.extra_decoder.weight' in out
    partial = str(tmp_path / 'partial.pth')
    save_model(partial, drop=('backbone.norm.weight', 'backbone.norm.bias'))
    out = run([sys.executable, 'tools/test.py', TINY, partial, '--work-dir',
               str(tmp_path / 'b'), '--non-strict', *data_options(demo_root)])
    assert 'missing keys in source state_dict: backbone.norm.weight' in out
    assert 'recon/chamfer_l2_x1000' in out
