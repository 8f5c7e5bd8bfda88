"""Checks of built dataloaders that neither the dataset (it does not know the batch size) nor
the config (it does not know the dataset's size) can make."""
from typing import Any


def _describe(dataset: Any) -> str:
    """The dataset's class and where its samples come from, for error messages."""
    where = [f'{key}={getattr(dataset, key)!r}' for key in ('ann_file', 'data_root', 'h5_path')
             if getattr(dataset, key, None)]
    return f'{type(dataset).__name__}({", ".join(where)})'


def check_batches_per_epoch(runner: Any) -> None:
    """Refuse a training dataloader that yields no batch per epoch.

    A dataset smaller than one batch with ``drop_last=True`` (or an empty dataset) makes every
    epoch empty: mmengine then trains 0 iterations without a word (saving untrained
    checkpoints), or fails with "`epoch_length` must be a positive integer, but got 0" when a
    scheduler has ``convert_to_iter_based=True``. Call it after building the runner and
    before ``runner.train()``: it builds the train loop (``runner.train_loop``), which
    ``runner.train()`` then reuses.

    Raises:
        ValueError: naming the dataset, its size, the batch size, drop_last and the number
            of processes, and what to change.
    """
    loop = runner.train_loop
    if loop is None or len(loop.dataloader) > 0:
        return
    loader = loop.dataloader
    dataset = loader.dataset
    world_size = getattr(loader.sampler, 'world_size', 1)
    per_rank = -(-len(dataset) // world_size)
    batch_size, drop_last = loader.batch_size, loader.drop_last
    if batch_size is None:  # a batch_sampler in the config
        batch_size = getattr(loader.batch_sampler, 'batch_size', None)
        drop_last = getattr(loader.batch_sampler, 'drop_last', None)
    if len(dataset) == 0:
        fix = 'check its split / annotation file'
    else:
        fix = (f'lower train_dataloader.batch_size to at most {per_rank}, set '
               f'train_dataloader.drop_last=False, or train on a larger split')
    raise ValueError(
        f'train_dataloader yields no batch per epoch: its dataset {_describe(dataset)} has '
        f'{len(dataset)} samples ({per_rank} per process over {world_size} process(es)), '
        f'fewer than one batch (batch_size={batch_size}, drop_last={drop_last}), so training '
        f'would run 0 iterations (schedulers with convert_to_iter_based fail with '
        f'"epoch_length must be a positive integer, but got 0"): {fix}.')
