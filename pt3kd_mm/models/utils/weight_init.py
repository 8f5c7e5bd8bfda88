"""Default weight initialisation of the point-patch transformers, as ``init_cfg`` lists."""
import copy
from typing import List, Optional, Union

# the Point-MAE lineage's ``_init_weights``: Linear (and the reference's 1x1 Conv1d, which are
# Linear layers here) truncated normal std 0.02, bias 0; norms weight 1, bias 0
POINT_TRANSFORMER_INIT_CFG = [
    dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
    dict(type='Constant', layer=['LayerNorm', 'BatchNorm1d'], val=1., bias=0.),
]


def default_init_cfg(init_cfg: Optional[Union[dict, List[dict]]],
                     default: List[dict] = None) -> Union[dict, List[dict]]:
    """``init_cfg`` when given, else a copy of ``default`` (POINT_TRANSFORMER_INIT_CFG)."""
    if init_cfg is not None:
        return init_cfg
    return copy.deepcopy(POINT_TRANSFORMER_INIT_CFG if default is None else default)
