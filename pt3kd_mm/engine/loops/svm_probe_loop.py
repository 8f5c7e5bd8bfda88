"""Validation of a pre-training run by a linear-SVM probe of its encoder (the references'
``validate`` with ``LinearSVC``, as an mmengine validation loop)."""
from typing import Dict, List, Sequence, Union

import torch
from mmengine.dist import all_reduce
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper
from mmengine.runner import ValLoop
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader

from mmdet3d.registry import LOOPS

from ...evaluation.probe_features import PROBE_FEATURES, global_probe_feature


@LOOPS.register_module()
class SVMProbeValLoop(ValLoop):
    """Encode a labelled train split and a test split with the model's encoder (eval mode,
    no grad, whole clouds, no masking), hand the global features to the evaluator
    (``SVMProbeAccuracy``: fit ``LinearSVC`` on the train split, score the test split).

    ``val_dataloader`` is the test split; ``svm_train_dataloader`` the split the SVM is fit on.
    The per-iteration val hooks see the test split's batches only (the log counts them).

    Args:
        runner: the runner.
        dataloader: the test split (``val_dataloader``).
        evaluator: ``SVMProbeAccuracy`` (``val_evaluator``).
        svm_train_dataloader: the labelled train split, a dataloader or its config.
        feature: the global feature of ``global_probe_feature``: 'max_mean' (Point-MAE, ACT),
            'recon' (ReCon's ``PointTransformerSVM``), 'cls_max'.
        fp16: run the encoder under autocast.

    The model must have ``extract_feat(inputs) -> encoder output dict`` and a
    ``data_preprocessor`` (the pre-training models here). Distributed: each rank encodes its
    shards of both splits (samplers that give every rank the same number of samples, as
    mmengine's ``DefaultSampler``); the evaluator gathers them on rank 0 with
    ``collect_results``, rank 0 fits the SVM and broadcasts the accuracy.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 svm_train_dataloader: Union[DataLoader, Dict],
                 feature: str = 'max_mean',
                 fp16: bool = False) -> None:
        if feature not in PROBE_FEATURES:
            raise ValueError(f'val_cfg.feature: unknown probe feature {feature!r}; choose one '
                             f'of {PROBE_FEATURES}')
        try:
            super().__init__(runner, dataloader, evaluator, fp16)
            if isinstance(svm_train_dataloader, dict):
                diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
                svm_train_dataloader = runner.build_dataloader(
                    svm_train_dataloader, seed=runner.seed, diff_rank_seed=diff_rank_seed)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'{err}\nThe linear-SVM probe of this config (val_cfg) needs its labelled data; '
                f'put it there, point val_cfg.svm_train_dataloader / val_dataloader at it, or '
                f'train without the probe: --cfg-options val_cfg=None val_dataloader=None '
                f'val_evaluator=None') from err
        self.svm_train_dataloader = svm_train_dataloader
        self.feature = feature

    def run(self) -> dict:
        """Encode the train split, then the test split; evaluate; return the metrics."""
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        num_samples = 0
        for data_batch in self.svm_train_dataloader:
            num_samples += len(self.encode_batch(data_batch, 'train'))
        for idx, data_batch in enumerate(self.dataloader):
            num_samples += self.run_iter(idx, data_batch)
        # every rank's results are kept (the metric drops padding copies by sample_idx)
        total = torch.tensor(num_samples, dtype=torch.long)
        all_reduce(total)
        metrics = self.evaluator.evaluate(int(total))
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics

    def run_iter(self, idx: int, data_batch: dict) -> int:
        """One test-split batch, with the per-iteration hooks; returns its size."""
        self.runner.call_hook('before_val_iter', batch_idx=idx, data_batch=data_batch)
        samples = self.encode_batch(data_batch, 'test')
        self.runner.call_hook('after_val_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=samples)
        return len(samples)

    @torch.no_grad()
    def encode_batch(self, data_batch: dict, split: str) -> Sequence:
        """Attach each cloud's global feature (``svm_feature``) and ``svm_split`` to its data
        sample and pass the samples to the evaluator."""
        model = self.runner.model.module if is_model_wrapper(self.runner.model) else \
            self.runner.model
        with autocast(enabled=self.fp16):
            data = model.data_preprocessor(data_batch, False)
            features = global_probe_feature(model.extract_feat(data['inputs']), self.feature)
        samples = data['data_samples']
        if samples is None or len(samples) != len(features):
            raise ValueError('SVMProbeValLoop needs one data sample per cloud (labels live in '
                             "their metainfo): pack with Pack3DDetInputs(keys=['points'], "
                             "meta_keys=('sample_idx', 'category'))")
        for sample, feat in zip(samples, features.float().cpu().numpy()):
            sample.set_metainfo(dict(svm_feature=feat, svm_split=split))
        self.evaluator.process(data_samples=samples, data_batch=data_batch)
        return samples
