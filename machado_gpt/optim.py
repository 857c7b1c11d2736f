"""The one place the optimizer and its learning-rate schedule are made: AdamW, or Muon on the hidden matrices with
AdamW on the rest (modded-nanogpt's split), and a schedule that the time budget can stretch or shrink mid-run.

Parameters fall in four groups, named for why they differ (modded-nanogpt's names):
- hidden_matrix_params: 2-D weights inside the blocks (attention, MLP). Muon orthogonalises their updates.
- embed_params: token (and GPT-2's position) embeddings, lookup tables: AdamW.
- head_params: the output head, when it is not tied to the embedding: AdamW.
- scalar_params: norms' gains and biases: AdamW without weight decay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim._muon import _adjust_lr
from transformers import TrainingArguments, get_scheduler

from .hardware import DTYPES, multiplies_bf16_natively
from .utils import MachadoError

OPTIMIZERS = ("adamw", "muon")
MUON_DTYPES = ("auto", "bf16", "fp32")


@dataclass
class OptimizerArguments:
    """Which optimizer; its learning rate for AdamW is TrainingArguments' learning_rate."""

    optimizer: str = field(default="adamw", metadata={
        "help": "adamw, or muon (torch.optim.Muon on the hidden matrices, AdamW with learning_rate on the rest)"})
    muon_learning_rate: float = field(default=0.02, metadata={"help": "Peak learning rate of the Muon group"})
    muon_momentum: float = field(default=0.95, metadata={"help": "Muon's Nesterov momentum"})
    decay_fraction: float = field(default=0.4, metadata={
        "help": "lr_scheduler_type warmup_stable_decay: share of the steps spent decaying to 0 (a long cooldown)"})
    muon_dtype: str = field(default="auto", metadata={
        "help": "Muon's Newton-Schulz iteration: auto (bf16 where the machine multiplies bf16 natively, fp32 on a CPU "
                "without bf16 instructions, where bf16 is emulated and slower), bf16 (torch's Muon), fp32"})

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise MachadoError.of("unknown_choice", name="optimizer", value=repr(self.optimizer),
                                  choices=", ".join(OPTIMIZERS))
        if not self.muon_learning_rate > 0:
            raise MachadoError.of("muon_lr", value=str(self.muon_learning_rate))
        if self.muon_dtype not in MUON_DTYPES:
            raise MachadoError.of("unknown_choice", name="muon_dtype", value=repr(self.muon_dtype),
                                  choices=", ".join(MUON_DTYPES))
        if not 0 < self.decay_fraction <= 1:
            raise MachadoError.of("decay_fraction", value=str(self.decay_fraction))


def named_param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Split the trainable parameters into the four groups above (tied weights appear once)."""
    embed_ids = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    head = model.get_output_embeddings()
    head_ids = {id(head.weight)} if head is not None else set()
    groups: dict[str, list[nn.Parameter]] = {"hidden_matrix_params": [], "embed_params": [], "head_params": [],
                                             "scalar_params": []}
    seen: set[int] = set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in embed_ids:
            groups["embed_params"].append(p)
        elif id(p) in head_ids:
            groups["head_params"].append(p)
        elif p.ndim == 2:
            groups["hidden_matrix_params"].append(p)
        else:
            groups["scalar_params"].append(p)
    return groups


def newton_schulz_dtype(device: torch.device, choice: str = "auto") -> torch.dtype:
    """The dtype of Muon's Newton-Schulz iteration for `muon_dtype` (bf16, fp32, or auto). auto: bf16, as torch's
    Muon iterates, where the machine multiplies bf16 natively (a GPU, a CPU with AVX512-BF16 or AMX); fp32 on a CPU
    without bf16 instructions, which emulates bf16 products: on a 2-core Xeon the recipes' whole training step ran
    1.43x faster with the iteration in fp32 for cpu-1h.yaml's 5.7M model and 1.15x for cpu.yaml's 1.3M
    (`benchmarks/train_throughput.py --ab newton_schulz`). fp32 is the same iteration, rounded less."""
    if choice != "auto":
        return DTYPES[choice]
    return torch.bfloat16 if multiplies_bf16_natively(device) else torch.float32


def muon_dtype_name(device: torch.device, opt: OptimizerArguments) -> str:
    """What `muon_dtype` resolves to on this machine, by its option name (bf16 or fp32), for logs and metrics."""
    dtype = newton_schulz_dtype(device, opt.muon_dtype)
    return next(name for name, d in DTYPES.items() if d == dtype)


def orthogonalize(updates: list[torch.Tensor], ns_coefficients: tuple[float, float, float], ns_steps: int,
                  eps: float, dtype: torch.dtype = torch.bfloat16) -> list[torch.Tensor]:
    """torch.optim.Muon's quintic Newton-Schulz iteration (its `_zeropower_via_newtonschulz`: bf16, wide orientation,
    Frobenius-normalised, the same coefficients), run once per shape on the stacked matrices instead of once per
    matrix, in `dtype` (newton_schulz_dtype). A model's hidden matrices come in two or three shapes (attention's
    d x d, the MLP's d x 8d/3 and its transpose), so 28 matrices of the main model become 2 batched products per
    iteration step. torch's Muon has no foreach path yet; its loop of small products cost 22% of the compiled step
    (docs/performance.md)."""
    a, b, c = ns_coefficients
    wide = [u.mT if u.size(0) > u.size(1) else u for u in updates]
    shapes: dict[tuple[int, int], list[int]] = {}
    for i, u in enumerate(wide):
        shapes.setdefault(tuple(u.shape), []).append(i)
    out: list[torch.Tensor] = [None] * len(updates)  # type: ignore[list-item]
    for indices in shapes.values():
        x = torch.stack([wide[i] for i in indices]).to(dtype)
        x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # spectral norm at most 1
        for _ in range(ns_steps):
            gram = x @ x.mT
            x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
        for j, i in enumerate(indices):
            out[i] = x[j].mT if updates[i].size(0) > updates[i].size(1) else x[j]
    return out


class MuonWithAdamW(torch.optim.Optimizer):
    """torch.optim.Muon and torch.optim.AdamW behind one Optimizer, so that Trainer, accelerate and the LR scheduler
    see a single object. Both share this optimizer's param-group dicts and state, so the standard state_dict() holds
    both states (Muon's momentum buffers, AdamW's moments) in one checkpoint file, and a scheduler that sets
    group['lr'] drives both. Muon's step is torch's, with the orthogonalisation batched by shape (`orthogonalize`)."""

    def __init__(self, muon_groups: list[dict], adamw_groups: list[dict], muon_kwargs: dict, adamw_kwargs: dict,
                 muon_dtype: str = "auto"):
        self.muon_dtype = muon_dtype
        self.muon = torch.optim.Muon(muon_groups, **muon_kwargs)
        self.adamw = torch.optim.AdamW(adamw_groups, **adamw_kwargs)
        self.n_muon_groups = len(self.muon.param_groups)
        super().__init__(self.muon.param_groups + self.adamw.param_groups, {})  # the same dicts, not copies
        self._link()

    def _link(self) -> None:
        self.muon.param_groups = self.param_groups[: self.n_muon_groups]
        self.adamw.param_groups = self.param_groups[self.n_muon_groups :]
        self.muon.state = self.adamw.state = self.state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)  # makes new group dicts and state: point both optimizers at them again
        self._link()

    @torch.no_grad()
    def muon_step(self) -> None:
        """torch.optim.Muon.step (its `_single_tensor_muon`): Nesterov momentum, orthogonalised update, decoupled
        weight decay, the learning rate adjusted per shape; the same state key, so checkpoints are interchangeable.
        The iteration runs in bf16 as torch's does, or in fp32 on a CPU without bf16 instructions (`muon_dtype`)."""
        for group in self.muon.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            updates = []
            for p in params:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                updates.append(p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf)
            if not params:
                continue
            orthogonal = orthogonalize(updates, group["ns_coefficients"], group["ns_steps"], group["eps"],
                                       newton_schulz_dtype(params[0].device, self.muon_dtype))
            for p, update in zip(params, orthogonal):
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-_adjust_lr(group["lr"], group["adjust_lr_fn"], p.shape))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon_step()
        self.adamw.step()
        return loss


def build_optimizer(model: nn.Module, opt: OptimizerArguments, args: TrainingArguments) -> torch.optim.Optimizer:
    """AdamW on everything (weight decay on matrices and embeddings, none on scalars), or Muon + AdamW. It replaces
    Trainer's own choice (`optim`), keeping its fused AdamW on GPUs."""
    groups = named_param_groups(model)
    adamw_kwargs = dict(lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon)
    if "fused" in str(args.optim) and torch.cuda.is_available():  # recipes' `optim: adamw_torch_fused`, on a GPU
        adamw_kwargs["fused"] = True

    def adamw_group(name: str, decay: bool) -> dict:
        return {"params": groups[name], "weight_decay": args.weight_decay if decay else 0.0, "name": name}

    adamw_groups = [adamw_group("embed_params", True), adamw_group("head_params", True),
                    adamw_group("scalar_params", False)]
    if opt.optimizer == "adamw":
        adamw_groups.insert(0, adamw_group("hidden_matrix_params", True))
        return torch.optim.AdamW([g for g in adamw_groups if g["params"]], **adamw_kwargs)
    # "match_rms_adamw" scales each update to AdamW's RMS (0.2 * sqrt(max(rows, cols))), so one Muon learning rate
    # suits every matrix shape, including GPT-2's fused (n_embd, 3 * n_embd) attention weight.
    muon_groups = [{"params": groups["hidden_matrix_params"], "lr": opt.muon_learning_rate,
                    "weight_decay": args.weight_decay, "name": "hidden_matrix_params"}]
    return MuonWithAdamW(muon_groups, [g for g in adamw_groups if g["params"]],
                         dict(momentum=opt.muon_momentum, nesterov=True, adjust_lr_fn="match_rms_adamw"), adamw_kwargs,
                         opt.muon_dtype)


def schedule_kwargs(args: TrainingArguments, opt: OptimizerArguments, num_training_steps: int) -> dict:
    """Scheduler kwargs for `num_training_steps`: the warmup-stable-decay cooldown is a share of the run, so that a
    time budget that changes the number of steps keeps its shape."""
    kwargs = dict(args.lr_scheduler_kwargs or {})
    if args.lr_scheduler_type == "warmup_stable_decay":
        kwargs["num_decay_steps"] = max(1, round(opt.decay_fraction * num_training_steps))
        kwargs.setdefault("decay_type", "linear")  # nanochat and modded-nanogpt cool down linearly to 0
    return kwargs


def build_scheduler(optimizer: torch.optim.Optimizer, args: TrainingArguments, opt: OptimizerArguments,
                    num_training_steps: int):
    """The one place the schedule is made: transformers' own, for a run of `num_training_steps`."""
    return get_scheduler(args.lr_scheduler_type, optimizer=optimizer,
                         num_warmup_steps=args.get_warmup_steps(num_training_steps), num_training_steps=num_training_steps,
                         scheduler_specific_kwargs=schedule_kwargs(args, opt, num_training_steps))


def learning_rate_lambdas(args: TrainingArguments, opt: OptimizerArguments, num_training_steps: int, n_groups: int):
    """The per-group lr multipliers (step -> factor) of that schedule, computed on a throwaway optimizer so that the
    live one is not touched."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    return build_scheduler(probe, args, opt, num_training_steps).lr_lambdas * n_groups


def replan_schedule(scheduler, args: TrainingArguments, opt: OptimizerArguments, num_training_steps: int) -> None:
    """Give a running LambdaLR the schedule of a run of `num_training_steps` and apply it at its current step."""
    sched = getattr(scheduler, "scheduler", scheduler)  # accelerate's AcceleratedScheduler wraps the LambdaLR
    if not hasattr(sched, "lr_lambdas"):
        raise MachadoError.of("replan_schedule", value=str(args.lr_scheduler_type))
    sched.lr_lambdas = learning_rate_lambdas(args, opt, num_training_steps, len(sched.optimizer.param_groups))
    for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
        group["lr"] = base * fn(sched.last_epoch)
    sched._last_lr = [g["lr"] for g in sched.optimizer.param_groups]
