"""The global feature of a whole cloud that linear probes (``SVMProbeValLoop``) read from an
encoder's output (``PointPatchTransformer`` / ``ReConPointTransformer`` ``forward``)."""
from typing import Dict

import torch
from torch import Tensor

#: the features ``global_probe_feature`` computes (an option's values, not a registry)
PROBE_FEATURES = ('max_mean', 'recon', 'cls_max')


def global_probe_feature(encoded: Dict[str, Tensor], feature: str) -> Tensor:
    """The (B, 2C) global feature of the encoder output ``encoded`` (``tokens`` (B, G, C)
    normed patch tokens; ``query_tokens`` (B, Q, C) / ``cls_token`` (B, C) where the encoder
    has them):

    - 'max_mean': concat(max over patch tokens, mean over patch tokens). Point-MAE and ACT
      (their runners' SVM validation is never called and has no working feature; this is the
      pooling of the patch tokens, the part those losses train).
    - 'recon': ReCon's ``PointTransformerSVM``: concat(max over the global queries,
      max over patch tokens + mean over patch tokens).
    - 'cls_max': concat(CLS token, max over patch tokens), the fine-tuning head's input.
    """
    if feature not in PROBE_FEATURES:
        raise ValueError(f'unknown probe feature {feature!r}; choose one of {PROBE_FEATURES}')
    tokens = encoded['tokens']
    token_max = tokens.max(dim=1)[0]
    if feature == 'max_mean':
        return torch.cat([token_max, tokens.mean(dim=1)], dim=-1)
    if feature == 'recon':
        if 'query_tokens' not in encoded:
            raise KeyError("probe feature 'recon' reads the global queries (query_tokens) of "
                           "ReConPointTransformer; this encoder has none: use 'max_mean'")
        return torch.cat([encoded['query_tokens'].max(dim=1)[0],
                          token_max + tokens.mean(dim=1)], dim=-1)
    if 'cls_token' not in encoded:
        raise KeyError("probe feature 'cls_max' reads the CLS token; this encoder has none "
                       "(with_cls_token=False): use 'max_mean'")
    return torch.cat([encoded['cls_token'], token_max], dim=-1)
