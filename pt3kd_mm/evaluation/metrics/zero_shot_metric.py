"""Zero-shot classification of point clouds against class-name prompts embedded by a text
teacher (ReCon's protocol)."""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmdet3d.registry import METRICS, MODELS


@torch.no_grad()
def class_text_embeddings(text_teacher: Callable[[List[str]], torch.Tensor],
                          class_names: Sequence[str],
                          prompts_of: Callable[[str], List[str]]) -> torch.Tensor:
    """(K, D) class embeddings: the sum of the teacher's features of every prompt of each class
    (the reference sums its 60 templates, unnormalised)."""
    rows = []
    for name in class_names:
        rows.append(text_teacher(list(prompts_of(name))).float().sum(0))
    return torch.stack(rows)


def zero_shot_classify(point_embeddings: torch.Tensor, class_embeddings: torch.Tensor
                       ) -> torch.Tensor:
    """(N, D) cloud embeddings, (K, D) class embeddings -> (N,) index of the class of highest
    cosine similarity."""
    sim = torch.nn.functional.normalize(point_embeddings.float(), dim=-1) @ \
        torch.nn.functional.normalize(class_embeddings.float(), dim=-1).t()
    return sim.argmax(-1)


def accuracies(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> Dict[str, float]:
    """Overall top-1 and class-mean accuracy in percent (classes without samples skipped)."""
    per_class = [float((pred[gt == c] == c).mean()) for c in range(num_classes)
                 if (gt == c).any()]
    return dict(top1=float((pred == gt).mean() * 100), mean_class_acc=float(np.mean(per_class)
                                                                            * 100))


@METRICS.register_module()
class ZeroShotAccuracy(BaseMetric):
    """Zero-shot accuracy of ``zero_shot_embedding`` (attached by ``ReCon.predict``) against the
    class prompts of ``class_names`` (default: the dataset's classes) embedded by
    ``text_teacher``; ground truth is each sample's ``category``.

    Args:
        text_teacher: the frozen text teacher's config (``CLIPTextTeacher``), built when the
            metric is computed (on the GPU when there is one).
        class_names: override the dataset's class names (e.g. readable names for synsets).
        templates: prompt templates with one ``{}`` for the name; default the 60 ReCon
            templates.
    """

    default_prefix = 'zero_shot'

    def __init__(self,
                 text_teacher: dict,
                 class_names: Optional[Sequence[str]] = None,
                 templates: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.text_teacher_cfg = text_teacher
        self.class_names = list(class_names) if class_names is not None else None
        self.templates = list(templates) if templates is not None else None

    def prompts_of(self, name: str) -> List[str]:
        if self.templates is None:
            from ...datasets.transforms.image_text import recon_prompts
            return recon_prompts(name)
        return [t.format(name) for t in self.templates]

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'zero_shot_embedding' not in sample:
                raise KeyError('ZeroShotAccuracy needs zero_shot_embedding in the predictions '
                               '(a model with a zero-shot predict mode, e.g. ReCon)')
            if 'category' not in sample:
                raise KeyError("ZeroShotAccuracy needs each sample's 'category' label; add it "
                               "to Pack3DDetInputs' meta_keys")
            self.results.append((np.asarray(sample['zero_shot_embedding'], np.float32),
                                 int(sample['category'])))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        if not results:
            raise ValueError('ZeroShotAccuracy: no predictions to evaluate (empty test set?)')
        names = self.class_names or list(self.dataset_meta.get('classes') or [])
        if not names:
            raise ValueError('ZeroShotAccuracy: no class names (dataset_meta has no classes; '
                             'pass class_names=)')
        teacher = MODELS.build(self.text_teacher_cfg)
        if torch.cuda.is_available():
            teacher.cuda()
        class_emb = class_text_embeddings(teacher, names, self.prompts_of).cpu()
        emb = torch.from_numpy(np.stack([r[0] for r in results]))
        gt = np.array([r[1] for r in results])
        if gt.max() >= len(names):
            raise ValueError(f'ZeroShotAccuracy: label {gt.max()} but only {len(names)} class '
                             f'names')
        pred = zero_shot_classify(emb, class_emb).numpy()
        return accuracies(pred, gt, len(names))
