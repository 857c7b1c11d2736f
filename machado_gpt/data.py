"""Token blocks for causal LM training: works joined by `<|endoftext|>`, cut into fixed-length blocks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset


class BlockDataset(TorchDataset):
    """Fixed-length blocks of token ids, (N, block_size) int64; labels are the inputs (the model shifts them)."""

    def __init__(self, blocks: torch.Tensor):
        self.blocks = blocks

    def __len__(self) -> int:
        return self.blocks.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def pack(input_ids: list[list[int]], block_size: int, max_blocks: int = 0, offset: int = 0) -> BlockDataset:
    """Concatenate the rows' ids (each already ends with `<|endoftext|>`) and cut them into blocks; the tail
    shorter than a block is dropped. With `max_blocks` > 0, keep that many evenly spaced blocks (deterministic).
    With `offset` > 0, the cuts move that many tokens right and the last block wraps round to the start: the same
    tokens in the same number of blocks, each token with other neighbours in its block.

    Example: [[1, 2, 0], [3, 4, 5, 0]], block_size 3 -> [[1, 2, 0], [3, 4, 5]] (the last 0 is dropped);
    with offset 1 -> [[2, 0, 3], [4, 5, 1]].
    """
    flat = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in input_ids]) if input_ids else np.zeros(0, np.int64)
    n = len(flat) // block_size
    kept = np.roll(flat[: n * block_size], -offset) if offset % block_size else flat[: n * block_size]
    blocks = torch.from_numpy(kept.reshape(n, block_size))
    if 0 < max_blocks < n:
        blocks = blocks[np.linspace(0, n - 1, max_blocks).round().astype(np.int64)]
    return BlockDataset(blocks)


class ShiftedBlocks(BlockDataset):
    """The train blocks cut at a new place every epoch (a data augmentation for the many-pass regime): `new_epoch()`
    moves every cut by a random offset in [1, block_size), drawn from `seed` and the epoch, so that each pass shows
    every token with other context (fixed cuts show the same 128-token windows every pass, and a model that passes
    over the corpus ten times learns them by heart). Same tokens, same number of blocks, so Trainer's plan holds.
    `NewBlocksEachEpoch` calls it at every epoch after the first."""

    def __init__(self, input_ids: list[list[int]], block_size: int, seed: int):
        plain = pack(input_ids, block_size)
        self.flat, self.block_size, self.seed, self.offset = plain.blocks.numpy().ravel(), block_size, seed, 0
        super().__init__(plain.blocks)

    def new_epoch(self, epoch: int) -> None:
        # Drawn from the seed and the epoch alone, so that a run resumed from a checkpoint cuts as the whole run did.
        self.offset = int(np.random.default_rng([self.seed, epoch]).integers(1, self.block_size))
        self.blocks = pack([self.flat], self.block_size, offset=self.offset).blocks


class ResegmentedBlocks(BlockDataset):
    """The train blocks under BPE-dropout: `new_epoch()` encodes the texts afresh (a new segmentation of the same
    text) and packs them. Every epoch has `n_blocks` blocks, the plain segmentation's number, so that it is the same
    number of steps, as Trainer plans: dropout makes more, shorter tokens (about 10% more at 0.1 on this corpus), and
    the blocks kept are evenly spaced over the new ones. `NewBlocksEachEpoch` calls it at every epoch after the first."""

    def __init__(self, encode: Callable[[], list[list[int]]], block_size: int, n_blocks: int):
        self.encode, self.block_size, self.n_blocks = encode, block_size, n_blocks
        super().__init__(torch.zeros(0, block_size, dtype=torch.int64))
        self.new_epoch(0)

    def new_epoch(self, epoch: int) -> None:
        blocks = pack(self.encode(), self.block_size).blocks
        # Evenly spaced; should a segmentation ever come out shorter than the plain one, a few blocks repeat.
        self.blocks = blocks[np.linspace(0, len(blocks) - 1, self.n_blocks).round().astype(np.int64)]
