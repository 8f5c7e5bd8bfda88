"""Mixed precision: ``tools/train.py --amp`` trains on CPU in bf16; the optimiser wrapper's
choices per device."""
import glob
import json
import os
import os.path as osp
import warnings

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper

from pt3kd_mm.engine import DeviceAgnosticAmpOptimWrapper
from pt3kd_mm.engine import amp_optim_wrapper
from pt3kd_mm.testing import REPO, run_tool

TINY = osp.join(REPO, 'tests/configs/tiny_point_mae.py')

# a hook that reports the dtype of a Linear output inside the training forward
PROBE = '''
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class LinearDtypeProbe(Hook):

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.seen = []
        model.backbone.transformer.blocks[0].attn.qkv.register_forward_hook(
            lambda m, i, o: self.seen.append(str(o.dtype)))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        runner.logger.info(f'probe: qkv output dtype {self.seen[-1]}')
'''


def test_train_with_amp_on_cpu(demo_root, tmp_path):
    (tmp_path / 'amp_probe.py').write_text(PROBE)
    cfg = tmp_path / 'tiny_amp.py'
    cfg.write_text(
        f"_base_ = ['{TINY}']\n"
        "custom_imports = dict(imports=['pt3kd_mm', 'amp_probe'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='LinearDtypeProbe')]\n"
        "optim_wrapper = dict(optimizer=dict(lr=3e-3))\n"
        "param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]\n"
        "train_cfg = dict(max_epochs=2)\n"
        "randomness = dict(seed=0)\n")
    work = str(tmp_path / 'work')
    env = dict(PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    out = run_tool(['tools/train.py', str(cfg), '--amp', '--work-dir', work, '--cfg-options',
                    f'train_dataloader.dataset.data_root={demo_root}',
                    f'test_dataloader.dataset.data_root={demo_root}',
                    f'val_dataloader.dataset.data_root={demo_root}',
                    f'val_cfg.svm_train_dataloader.dataset.data_root={demo_root}'],
                   extra_env=env)
    # the step's forward ran under bf16 autocast
    dtypes = [line.rsplit(' ', 1)[-1] for line in out.splitlines()
              if 'probe: qkv output dtype' in line]
    assert dtypes and set(dtypes) == {'torch.bfloat16'}, dtypes
    # finite losses that go down
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) == 2 * (18 // 4)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses
    # checkpoint saved, fp32 weights, no loss scaler (bf16 needs none)
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu', weights_only=False)
    assert all(v.dtype in (torch.float32, torch.int64) for v in ckpt['state_dict'].values())
    assert 'loss_scaler' not in ckpt['optimizer']


def _sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)


def test_wrapper_on_cpu_is_bf16_without_loss_scale():
    wrapper = DeviceAgnosticAmpOptimWrapper(optimizer=_sgd())
    assert wrapper.cast_dtype == torch.bfloat16 and wrapper.loss_scaler is None
    model = torch.nn.Linear(2, 2)
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        out = model(torch.ones(1, 2))
    assert out.dtype == torch.bfloat16
    param = wrapper.optimizer.param_groups[0]['params'][0]
    wrapper.update_params((param * 2).sum())
    torch.testing.assert_close(param.detach(), torch.full((2, ), 0.8))
    state = wrapper.state_dict()
    assert 'loss_scaler' not in state
    # a checkpoint of a GPU fp16 run (with a loss scaler) resumes here
    wrapper.load_state_dict(dict(state, loss_scaler={'scale': 1024.0}))
    with pytest.raises(ValueError, match='mixed precision on CPU runs in bfloat16 only'):
        DeviceAgnosticAmpOptimWrapper(optimizer=_sgd(), dtype='float16')
    with pytest.raises(ValueError, match='dtype must be one of'):
        DeviceAgnosticAmpOptimWrapper(optimizer=_sgd(), dtype='half')


def test_wrapper_on_gpu_keeps_mmengine_behaviour(monkeypatch):
    """The device logic without a GPU: on 'cuda' the wrapper is mmengine's AmpOptimWrapper
    (fp16 default, dynamic loss scale); bf16 drops the loss scale."""
    monkeypatch.setattr(amp_optim_wrapper, 'get_device', lambda: 'cuda')
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    with warnings.catch_warnings():  # without CUDA torch's GradScaler disables itself
        warnings.simplefilter('ignore')
        fp16 = DeviceAgnosticAmpOptimWrapper(optimizer=_sgd())
    assert fp16.cast_dtype is None  # autocast's CUDA default: fp16
    assert isinstance(fp16.loss_scaler, amp_optimizer_wrapper.GradScaler)
    assert 'loss_scaler' in fp16.state_dict()
    bf16 = DeviceAgnosticAmpOptimWrapper(optimizer=_sgd(), dtype='bfloat16')
    assert bf16.cast_dtype == torch.bfloat16 and bf16.loss_scaler is None
    assert isinstance(bf16, OptimWrapper)
