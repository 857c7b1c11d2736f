"""Weight averaging for the many-epoch regime: an exponential moving average (EMA) of the weights, or an equal
average over the run's last steps (SWA), both through `torch.optim.swa_utils.AveragedModel`. The averaged weights
are what the run evaluates and saves: at the end of training they replace the model's own.

Evaluations during training score the raw weights; checkpoints carry the average (`averaged_model.pt`), so a resumed
run continues it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

AVERAGES = ("none", "ema", "swa")
CHECKPOINT_FILE = "averaged_model.pt"


class WeightAveraging(TrainerCallback):
    """Keeps the average after every optimizer step; SWA starts once `swa_start` of the planned steps are done (0.6:
    with a 40% cooldown, the cooldown's weights). The planned steps are read at each step: a time budget plans them
    mid-run."""

    def __init__(self, kind: str, ema_decay: float, swa_start: float):
        self.kind, self.ema_decay, self.swa_start = kind, ema_decay, swa_start
        self.averaged: AveragedModel | None = None
        self._resume_from: str | None = None

    def _make(self, model: torch.nn.Module) -> AveragedModel:
        fn = get_ema_multi_avg_fn(self.ema_decay) if self.kind == "ema" else None
        return AveragedModel(model, multi_avg_fn=fn, use_buffers=False)

    def resume(self, checkpoint: str) -> None:
        self._resume_from = checkpoint

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.averaged = self._make(model)
        path = Path(self._resume_from or "") / CHECKPOINT_FILE
        if self._resume_from and path.is_file():
            self.averaged.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.kind == "swa" and state.global_step < self.swa_start * state.max_steps:
            return
        self.averaged.update_parameters(model)

    def on_save(self, args, state, control, **kwargs):
        if self.averaged is not None and state.is_world_process_zero:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            torch.save(self.averaged.state_dict(), folder / CHECKPOINT_FILE)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        """The averaged weights become the model's: the final evaluation and the saved folder use them."""
        if self.averaged is None or int(self.averaged.n_averaged) == 0:
            return
        with torch.no_grad():
            for mine, averaged in zip(model.parameters(), self.averaged.module.parameters()):
                mine.copy_(averaged)
