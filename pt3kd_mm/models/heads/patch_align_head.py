"""Aligns each 3D patch token with the 2D patch feature its centre projects onto."""
from typing import Optional, Sequence, Tuple, Union

from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..utils.weight_init import default_init_cfg


def uv_to_grid_cell(uv: Tensor, grid_size: Sequence[int]) -> Tensor:
    """Row-major index of the image patch-grid cell holding each normalised image point.

    Args:
        uv: (..., 2) u = x / W, v = y / H in [0, 1] (u along the image width).
        grid_size: (gh, gw) the teacher's patch grid, rows x columns.

    Returns:
        (...) long ``floor(v * gh) * gw + floor(u * gw)``, each axis clamped into the grid
        (u or v = 1 falls in the last cell).
    """
    grid_h, grid_w = (int(s) for s in grid_size)
    row = (uv[..., 1] * grid_h).floor().long().clamp(0, grid_h - 1)
    col = (uv[..., 0] * grid_w).floor().long().clamp(0, grid_w - 1)
    return row * grid_w + col


@MODELS.register_module()
class PatchAlignHead(BaseModule):
    """Per 3D patch token an MLP ``Linear(C, hidden) -> act -> Linear(hidden, D)``, regressed
    onto the teacher's 2D patch feature of the grid cell its centre projects onto; the loss is
    averaged over the patches whose centre lies inside the image only.

    Args:
        embed_dims: token width C (from the backbone).
        target_dims: D, the teacher's patch-feature width.
        grid_size: (gh, gw) the teacher's patch grid (e.g. (7, 7) for CLIP ViT-B/32 at 224);
            a teacher target is (gh * gw, D), row-major.
        hidden_dims: the MLP's hidden width.
        act_cfg: hidden activation (default GELU).
        loss: loss config (default ``mmdet.MSELoss``); it is called with a per-element weight
            (1 for patches in the image, 0 else) and ``avg_factor`` = in-image patches x D.
        init_cfg: default: Linear truncated normal std 0.02, bias 0.
    """

    def __init__(self,
                 embed_dims: int = 384,
                 target_dims: int = 768,
                 grid_size: Sequence[int] = (7, 7),
                 hidden_dims: int = 768,
                 act_cfg: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=default_init_cfg(init_cfg))
        self.grid_size: Tuple[int, int] = tuple(int(s) for s in grid_size)
        if len(self.grid_size) != 2 or min(self.grid_size) < 1:
            raise ValueError(f'PatchAlignHead: grid_size must be (gh, gw), got {grid_size}')
        self.target_dims = target_dims
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden_dims),
            build_activation_layer(act_cfg or dict(type='GELU')),
            nn.Linear(hidden_dims, target_dims))
        self.loss_module = MODELS.build(loss or dict(type='mmdet.MSELoss', loss_weight=1.0))

    @property
    def target_shape(self) -> Tuple[int, int]:
        """A teacher target's shape per sample: (gh * gw, D)."""
        return (self.grid_size[0] * self.grid_size[1], self.target_dims)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (B, L, C) -> (B, L, D)."""
        return self.mlp(tokens)

    def patch_targets(self, grid_features: Tensor, uv: Tensor) -> Tensor:
        """The 2D feature under each 3D patch centre.

        Args:
            grid_features: (B, gh * gw, D) the teacher's patch features, row-major.
            uv: (B, L, 2) the patch centres' normalised image coordinates.

        Returns:
            (B, L, D).
        """
        cells = uv_to_grid_cell(uv, self.grid_size)  # (B, L)
        return grid_features.gather(
            1, cells.unsqueeze(-1).expand(-1, -1, grid_features.shape[-1]))

    def loss(self, tokens: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """tokens (B, L, C), target (B, L, D), valid (B, L) bool (centre inside the image) ->
        the loss averaged over the valid patches (0 with a gradient when none is valid)."""
        pred = self(tokens)
        if pred.shape != target.shape:
            raise ValueError(f'PatchAlignHead: prediction {tuple(pred.shape)} vs teacher target '
                             f'{tuple(target.shape)}; set target_dims to the teacher\'s width')
        weight = valid.unsqueeze(-1).to(pred.dtype).expand_as(pred)
        avg_factor = max(float(weight.sum()), 1.0)
        return self.loss_module(pred, target.to(pred.dtype), weight=weight,
                                avg_factor=avg_factor)
