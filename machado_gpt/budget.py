"""Training to a wall-clock budget: measure this machine's step time, plan max_steps so that the learning-rate
schedule ends on time (evaluation, saving and the final evaluation included), re-plan if the machine slows down,
and say so when another process is eating the cores.

A run with `--time_budget 10m` plans after a short measurement and re-plans only when its projection drifts by more
than REPLAN_DRIFT of the budget. With warmup-stable-decay the learning rate before the cooldown does not depend on
max_steps, so a run whose re-plans all come before its cooldown is reproduced exactly by `--max_steps N` (the steps
run are logged and written to run_config.yaml and the model's metrics, with every plan).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import deque

from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback
from transformers.trainer_callback import ExportableState

from .optim import OptimizerArguments, replan_schedule
from .utils import MachadoError

REPLAN_DRIFT = 0.05  # re-plan when the projected end moves by more than 5% of the budget
MEASURE_STEPS = 20  # steps timed before the first plan (after the first, slower, step)
RECENT = 20  # steps in the moving window of step times; its median is the step time (robust to single spikes)
CONTENTION = 2.0  # a window this many times slower than the first measurement means the cores are shared
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds from '600', '90s', '10m', '1h', '1h30m'; None, '' and '0' mean no budget.
    Example: '1h30m' -> 5400.0, '10m' -> 600.0, '600' -> 600.0."""
    if text is None:
        return None
    s = str(text).strip().lower()
    if s in ("", "0", "none", "no"):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smh])", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise MachadoError.of("time_budget", text=repr(text))
    return sum(float(n) * _UNITS[u] for n, u in parts)


class PlannedProgress(ProgressCallback):
    """Trainer's progress bar, made with the plan's total: none until the budget's first plan (the bar then counts
    steps), never the placeholder bound that keeps Trainer's loop going (a '501/600000 [02:51<175:32:02]' bar)."""

    def __init__(self, clock: StepClock):
        super().__init__()
        self.clock = clock
        clock.progress = self

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            planning = self.clock.budget and self.clock.planned is None
            self.training_bar = tqdm(total=None if planning else state.max_steps, dynamic_ncols=True)
        self.current_step = 0


class StepClock(TrainerCallback, ExportableState):
    """Times every optimizer step. With a budget it plans `state.max_steps` (and the LR schedule with it); always it
    warns once when steps become CONTENTION times slower than measured at the start, for a sustained window."""

    def __init__(self, budget_seconds: float | None, start_time: float, opt: OptimizerArguments, n_eval_blocks: int,
                 log=print):
        self.budget, self.start, self.opt, self.log = budget_seconds, start_time, opt, log
        self.n_eval_blocks = n_eval_blocks
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.first: float | None = None  # median step time of the first measurement
        self.planned: int | None = None
        self.plans: list[dict] = []
        self.event_seconds = 0.0  # step-to-step intervals that held an evaluation or a save, in full
        self.event_intervals = 0
        self.evals = 0
        self.warned = False
        self._last_end: float | None = None
        self._event = False
        self.progress: PlannedProgress | None = None  # its bar shows the plan
        self.train_begin: float | None = None

    def _bar(self):
        return getattr(self.progress, "training_bar", None)

    def _show_plan(self, state) -> None:
        """The bar's total is the planned steps, never the placeholder bound; its postfix, the budget's time left."""
        bar = self._bar()
        if bar is None or not self.budget:
            return
        total = self.planned  # None until the first plan: the bar then counts steps without a total
        if bar.total != total:
            bar.total = total
            bar.refresh()
        if self.planned is not None and state.global_step % 10 == 0:
            left = max(0, self.budget - (time.perf_counter() - self.start))
            bar.set_postfix_str(f"budget: {int(left // 60)}:{int(left % 60):02d} left", refresh=False)

    # ExportableState: the plan is saved in every checkpoint's trainer_state.json, so a resumed run keeps it.
    def state(self) -> dict:
        return {"args": {}, "attributes": {"planned": self.planned, "plans": self.plans}}

    def resume(self, checkpoint: str, args) -> None:
        """A run resumed from `checkpoint` finishes the plan saved there: Trainer then sees a fixed max_steps, as if it
        had been given, and builds the same schedule. The clock of the interrupted run is gone, so no re-planning."""
        import json
        from pathlib import Path

        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        saved = (state.get("stateful_callbacks") or {}).get(type(self).__name__, {}).get("attributes", {})
        if saved.get("planned"):
            self.planned, self.plans, self.budget = saved["planned"], saved.get("plans", []), None
            args.max_steps = self.planned
            self.log(f"time budget: resuming the planned run of {self.planned:,} steps")

    def on_train_begin(self, args, state, control, **kwargs):
        self.train_begin = time.perf_counter()

    def event_extra_seconds(self) -> float:
        """What the evaluations and saves during training cost beyond the steps they interrupted."""
        step_time = statistics.median(self.recent) if self.recent else 0.0
        return max(0.0, self.event_seconds - self.event_intervals * step_time)

    # A step's time is the interval between two step ends: data loading, forward, backward, optimizer and logging,
    # everything a step costs. Intervals that also held an evaluation or a save are kept apart, as their cost.
    def on_evaluate(self, args, state, control, **kwargs):
        self.evals += 1
        self._event = True

    def on_save(self, args, state, control, **kwargs):
        self._event = True

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        self._show_plan(state)
        ending = control.should_training_stop or state.global_step >= state.max_steps
        if ending and args.save_strategy != "no":
            control.should_save = True  # a checkpoint at the run's end: training further resumes from there
        now = time.perf_counter()
        if self._last_end is not None and state.global_step > 2:  # the first step builds caches: not typical
            interval = now - self._last_end
            if self._event:
                self.event_seconds += interval
                self.event_intervals += 1
            else:
                self.recent.append(interval)
        self._last_end, self._event = now, False
        if len(self.recent) < MEASURE_STEPS:
            return
        step_time = statistics.median(self.recent)
        if self.first is None:
            self.first = step_time
        elif not self.warned and len(self.recent) == RECENT and step_time > CONTENTION * self.first:
            self.warned = True
            self.log(f"warning: steps take {step_time:.2f} s, {step_time / self.first:.1f}x the {self.first:.2f} s "
                     f"measured at the start: another process is probably using the same cores. Stop it, or give "
                     f"torch fewer threads (OMP_NUM_THREADS=1 or torch.set_num_threads)"
                     + ("; the time budget re-plans to end on time" if self.budget else ""))
        if self.budget and not ending:  # Trainer stops this step: a new plan would be saved but never run
            self._plan(args, state, control, lr_scheduler, step_time)

    def _plan(self, args, state, control, lr_scheduler, step_time: float) -> None:
        step = state.global_step
        elapsed = time.perf_counter() - self.start
        batch = max(1, args.per_device_train_batch_size * args.gradient_accumulation_steps)
        # One evaluation: measured from the intervals that held one, once one has happened; before that, its forward
        # passes at about a third of a training step's cost per block, plus a few seconds for the samples.
        if self.evals:
            extra = max(0.0, self.event_seconds - self.event_intervals * step_time)  # beyond the steps themselves
            eval_cost = extra / self.evals
            per_step_overhead = extra / step
        else:
            eval_cost = step_time * self.n_eval_blocks / (3 * batch) + 2.0
            every = args.eval_steps if args.eval_strategy == "steps" and args.eval_steps else math.inf
            per_step_overhead = eval_cost / every
        final_cost = 3 * eval_cost  # final validation and test evaluations, samples, saving the folder
        remaining = self.budget - elapsed - final_cost
        target = step + max(1, int(remaining / (step_time + per_step_overhead)))
        if self.planned is not None:
            projected_end = elapsed + (self.planned - step) * (step_time + per_step_overhead) + final_cost
            if abs(projected_end - self.budget) <= REPLAN_DRIFT * self.budget or target == self.planned:
                return
        target = max(target, step + 1)
        self.plans.append({"at_step": step, "max_steps": target, "step_seconds": round(step_time, 4),
                           "elapsed_seconds": round(elapsed, 1)})
        self.log(f"time budget {self.budget:.0f} s: {step_time:.3f} s per step, {elapsed:.0f} s used at step {step} "
                 f"-> max_steps {target:,}" + (" (re-planned)" if self.planned else ""))
        self.planned = target
        state.max_steps = target
        replan_schedule(lr_scheduler, args, self.opt, target)
        if step >= target:
            control.should_training_stop = True
