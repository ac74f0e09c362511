"""Benchmark TopK sparse autoencoder training against two baselines.

Training throughput (samples/s over one shuffled epoch, after a warm-up of a
few steps) and peak memory of three implementations on the same data, batch
size, ``k`` and dictionary sizes ``L = m * d`` (``d = 192``, TitaNet's
embedding size, ``m`` in 4, 8, 16, 32 by default):

* **ours**: :func:`sklearn_audioconcepts._sae.train_epoch` (TopK selected on
  dense pre-activations computed without autograd; a sparse backward over the
  ``k`` selected latents; an ``embedding_bag`` decoder; AuxK on dead latents;
  decoder gradient projection and renormalisation each step).
* **plain**: the same math written plainly in this file: ``nn.Linear``
  encoder and decoder, ``torch.topk``, a dense code via ``scatter``, autograd
  through everything, the decoder gradient projected and its columns
  renormalised each step, AuxK through a masked dense ``topk``.
* **sae-lens**: ``sae_lens.TopKTrainingSAE.training_forward_pass`` (its own
  TopK math: decoder norms folded into the activations instead of
  renormalised, ``k_aux = d / 2``) with Adam, when ``sae_lens`` imports in
  the running interpreter; otherwise reported as unavailable with the reason.

Each (implementation, L) runs in a fresh subprocess, so peak memory is its
own: on CPU the rise of the peak resident set size (``ru_maxrss``) over the
size after the data are built; on CUDA ``torch.cuda.max_memory_allocated``.
All use float32, Adam (lr 1e-3), and the same dead-latent threshold.

Run from the repository root::

    python benchmarks/bench_sae.py                 # L = 4, 8, 16, 32 x 192
    python benchmarks/bench_sae.py --device cuda --n-samples 262144
    python benchmarks/bench_sae.py --quick         # a few seconds
    python benchmarks/bench_sae.py --variants      # TopK / BatchTopK / Matryoshka

``--variants`` compares reconstruction rather than speed: the estimator
trained with ``sparsity`` "topk" and "batch_topk", each with and without
Matryoshka prefixes (L/8, L/2, L), on planted atoms used with Zipf-like
frequencies, and prints held-out FVU (fraction of variance unexplained),
the FVU of the first L/8 latents alone, mean and maximum L0, the fraction of
latents that fire on no held-out row, and seconds per epoch.

On a small shared machine, run it when nothing else is busy and consider
``--threads 1``; the load average is printed with the results.
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    from sklearn_audioconcepts import _sae
except ImportError:  # run from a checkout where the package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sklearn_audioconcepts import _sae

IMPLEMENTATIONS = ("ours", "plain", "sae-lens")
QUICK = {"multipliers": [4], "n_samples": 2048, "n_features": 64, "k": 16}
DEFAULTS = {
    "multipliers": [4, 8, 16, 32],
    "n_samples": 16384,
    "n_features": 192,
    "k": 32,
}
WARMUP_STEPS = 3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Time TopK SAE training.")
    parser.add_argument("--multipliers", type=int, nargs="+", help="L / d [4 8 16 32]")
    parser.add_argument("--n-samples", type=int, help="rows per epoch [16384]")
    parser.add_argument("--n-features", type=int, help="d [192]")
    parser.add_argument("--k", type=int, help="active latents [32]")
    parser.add_argument("--aux-k", type=int, default=256, help="[256]")
    parser.add_argument("--batch-size", type=int, default=1024, help="[1024]")
    parser.add_argument(
        "--dead-threshold", type=int, default=4096, help="samples without firing [4096]"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N [cpu]")
    parser.add_argument("--threads", type=int, help="torch threads [torch default]")
    parser.add_argument(
        "--implementations",
        nargs="+",
        default=list(IMPLEMENTATIONS),
        choices=IMPLEMENTATIONS,
    )
    parser.add_argument("--seed", type=int, default=0, help="[0]")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="L=4d, d=64, N=2048")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="compare TopK, BatchTopK and Matryoshka quality (N=8192, d=64, L=8d, "
        "k=8 unless given)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="for --variants [20]")
    args = parser.parse_args(argv)
    # --variants has its own defaults (compare_variants).
    preset = {} if args.variants else QUICK if args.quick else DEFAULTS
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.quick:
        args.batch_size = min(args.batch_size, 256)
        args.aux_k = min(args.aux_k, 64)
    return args


# ---------------------------------------------------------------------- data


def make_data(n_samples, n_features, seed):
    """Embedding-like rows: sparse nonnegative mixes of unit atoms plus noise."""
    generator = torch.Generator().manual_seed(seed)
    n_atoms, n_active = 4 * n_features, 8
    atoms = torch.randn(n_atoms, n_features, generator=generator)
    atoms /= atoms.norm(dim=1, keepdim=True)
    chosen = torch.rand(n_samples, n_atoms, generator=generator).topk(n_active).indices
    weights = torch.rand(n_samples, n_active, generator=generator) + 0.5
    X = F.embedding_bag(chosen, atoms, per_sample_weights=weights, mode="sum")
    X += 0.05 * torch.randn(n_samples, n_features, generator=generator)
    return X.contiguous()


# ---------------------------------------------------------------- the plain one


class PlainTopKSAE(nn.Module):
    """Gao et al.'s TopK SAE written the straightforward way."""

    def __init__(self, n_features, n_latents, k):
        super().__init__()
        self.k = k
        self.pre_bias = nn.Parameter(torch.zeros(n_features))
        self.encoder = nn.Linear(n_features, n_latents)
        self.decoder = nn.Linear(n_latents, n_features, bias=False)
        with torch.no_grad():
            self.decoder.weight.copy_(self.encoder.weight.T)
            self.decoder.weight /= self.decoder.weight.norm(dim=0, keepdim=True)
            self.encoder.weight.copy_(self.decoder.weight.T)

    def forward(self, x):
        pre = self.encoder(x - self.pre_bias)
        values, indices = torch.topk(pre, self.k, dim=1)
        code = torch.zeros_like(pre).scatter(1, indices, values.relu())
        return pre, code, self.decoder(code) + self.pre_bias


def plain_trainer(n_features, n_latents, args, data):
    model = PlainTopKSAE(n_features, n_latents, args.k).to(args.device)
    with torch.no_grad():
        model.pre_bias.copy_(_sae.geometric_median(data[:4096]).float())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=_sae.ADAM_EPS)
    since_fired = torch.zeros(n_latents, dtype=torch.long, device=args.device)
    mse_scale = 1.0 / _sae.data_variance(data[:4096])

    def step(x):
        pre, code, reconstruction = model(x)
        loss = ((reconstruction - x) ** 2).mean() * mse_scale
        dead = since_fired > args.dead_threshold
        if bool(dead.any()):
            masked = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
            values, indices = torch.topk(
                masked, min(args.aux_k, int(dead.sum())), dim=1
            )
            aux_code = torch.zeros_like(pre).scatter(1, indices, values.relu())
            target = x - reconstruction.detach()
            aux = ((model.decoder(aux_code) - target) ** 2).mean()
            loss = loss + ((aux / ((target - target.mean(0)) ** 2).mean()) / 32)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            weight, grad = model.decoder.weight, model.decoder.weight.grad
            grad -= (grad * weight).sum(0, keepdim=True) * weight
        optimizer.step()
        with torch.no_grad():
            model.decoder.weight /= model.decoder.weight.norm(dim=0, keepdim=True)
            fired = (code > 0).any(0)
            since_fired.add_(len(x)).masked_fill_(fired, 0)
        return loss.detach(), (reconstruction - x).pow(2).mean().detach() * mse_scale

    return step, lambda: float((since_fired > args.dead_threshold).float().mean())


# --------------------------------------------------------------------- ours


def ours_trainer(n_features, n_latents, args, data):
    model = _sae.TopKSAE(n_features, n_latents, args.k, device=args.device)
    _sae.initialize_from_data(model, data[:4096], torch.Generator().manual_seed(0))
    optimizer = _sae.make_optimizer(model, 1e-3)
    options = {
        "mse_scale": 1.0 / _sae.data_variance(data[:4096]),
        "aux_k": args.aux_k,
        "aux_coef": 1 / 32,
        "dead_threshold": args.dead_threshold,
    }

    def step(x):
        loss, scaled_mse, _, _ = _sae.training_step(model, optimizer, x, **options)
        return loss, scaled_mse

    def dead_fraction():
        return float((model.samples_since_fired > args.dead_threshold).float().mean())

    return step, dead_fraction


# ----------------------------------------------------------------- sae-lens


def saelens_trainer(n_features, n_latents, args, data):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    config = TopKTrainingSAEConfig(
        d_in=n_features,
        d_sae=n_latents,
        k=args.k,
        device=str(args.device),
        dtype="float32",
        aux_loss_coefficient=1 / 32,
    )
    model = TopKTrainingSAE(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=_sae.ADAM_EPS)
    since_fired = torch.zeros(n_latents, dtype=torch.long, device=args.device)
    mse_scale = 1.0 / _sae.data_variance(data[:4096])
    counter = {"steps": 0}

    def step(x):
        output = model.training_forward_pass(
            TrainStepInput(
                sae_in=x,
                coefficients={},
                dead_neuron_mask=since_fired > args.dead_threshold,
                n_training_steps=counter["steps"],
                is_logging_step=False,
            )
        )
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        counter["steps"] += 1
        with torch.no_grad():
            acts = output.feature_acts
            fired = (acts.to_dense() if acts.is_sparse else acts).gt(0).any(0)
            since_fired.add_(len(x)).masked_fill_(fired, 0)
            error = (output.sae_out - x).pow(2).mean() * mse_scale
        return output.loss.detach(), error

    return step, lambda: float((since_fired > args.dead_threshold).float().mean())


TRAINERS = {"ours": ours_trainer, "plain": plain_trainer, "sae-lens": saelens_trainer}


# ------------------------------------------------------------------- measure


def _rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def run_one(name, multiplier, args):
    """Train one epoch of one implementation; runs in a subprocess."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the baselines draw their init from it
    device = torch.device(args.device)
    n_features, n_latents = args.n_features, multiplier * args.n_features
    data = make_data(args.n_samples, n_features, args.seed)
    try:
        step, dead_fraction = TRAINERS[name](n_features, n_latents, args, data)
    except Exception as error:  # noqa: BLE001 - report any failure to set up
        return {"available": False, "reason": f"{type(error).__name__}: {error}"}
    rss_before = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        memory_before = torch.cuda.memory_allocated(device)
    generator = torch.Generator().manual_seed(args.seed)
    for _ in range(WARMUP_STEPS):
        rows = torch.randint(len(data), (args.batch_size,), generator=generator)
        step(data[rows].to(device))
    order = torch.randperm(len(data), generator=generator)
    losses = []
    _synchronize(device)
    start = time.perf_counter()
    for begin in range(0, len(data), args.batch_size):
        x = data[order[begin : begin + args.batch_size]].to(device)
        losses.append(torch.stack(step(x)))
    _synchronize(device)
    seconds = time.perf_counter() - start
    last = torch.stack(losses[-4:]).mean(0).tolist()
    result = {
        "available": True,
        "seconds": seconds,
        "samples_per_s": len(data) / seconds,
        "final_nmse": last[1],
        "dead_fraction": dead_fraction(),
    }
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - memory_before
        result["peak_memory_mb"] = peak / 2**20
        result["memory_kind"] = "cuda max_memory_allocated"
    else:
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["peak_memory_mb"] = max(peak_rss - rss_before, 0.0)
        result["memory_kind"] = "peak RSS rise"
    return result


def _child(queue, name, multiplier, args):
    try:
        queue.put(run_one(name, multiplier, args))
    except Exception as error:  # noqa: BLE001 - surface the failure in the table
        queue.put({"available": False, "reason": f"{type(error).__name__}: {error}"})


def run_isolated(name, multiplier, args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, name, multiplier, args))
    process.start()
    try:
        result = queue.get(timeout=3600)
    except Exception as error:  # noqa: BLE001
        result = {"available": False, "reason": f"no result: {error}"}
    process.join()
    return result


# -------------------------------------------------------------------- report


def machine_info(args):
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    device = torch.device(args.device)
    name = platform.processor() or platform.machine()
    if device.type == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(device)
    else:
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                name = next(
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                )
        except (OSError, StopIteration):
            pass
    return {
        "device": str(device),
        "device_name": name,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": args.threads or torch.get_num_threads(),
        "load_average_at_start": [round(v, 2) for v in load],
    }


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def table(rows, names):
    header = ["L", "L/d"]
    for name in names:
        header += [f"{name}/s", f"{name} MB"]
    header += [f"ours/{name}" for name in names if name != "ours"]
    body = []
    for row in rows:
        line = [row["n_latents"], row["multiplier"]]
        for name in names:
            result = row[name]
            ok = result["available"]
            line += [
                _fmt(result.get("samples_per_s") if ok else None, ".0f"),
                _fmt(result.get("peak_memory_mb") if ok else None, ".0f"),
            ]
        for name in names:
            if name != "ours":
                speedup = row.get(f"speedup_vs_{name}")
                line.append("n/a" if speedup is None else f"{speedup:.2f}x")
        body.append(line)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *body)]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).rjust(w) for c, w in zip(line, widths)) for line in body]
    return "\n".join(lines)


def report(results, names):
    m, c = results["machine"], results["config"]
    lines = [
        f"machine: {m['device_name']} | device={m['device']} | cpus={m['cpu_count']} | "
        f"torch {m['torch']} ({m['torch_threads']} threads) | load avg at start "
        f"{m['load_average_at_start']}, at end {m['load_average_at_end']}",
        f"problem: d={c['n_features']}, N={c['n_samples']}, batch={c['batch_size']}, "
        f"k={c['k']}, aux_k={c['aux_k']}, dead after {c['dead_threshold']} samples, "
        "float32, Adam lr 1e-3",
        "",
        "Training throughput (samples/s, one epoch after a warm-up) and peak memory",
        table(results["rows"], names),
        "",
        "Normalised MSE over the last steps, and fraction of dead latents",
    ]
    for row in results["rows"]:
        parts = []
        for name in names:
            result = row[name]
            if result["available"]:
                parts.append(
                    f"{name} nmse {result['final_nmse']:.3f} dead "
                    f"{result['dead_fraction']:.2f}"
                )
            else:
                parts.append(f"{name} unavailable ({result['reason'][:200]})")
        lines.append(f"L={row['n_latents']}: " + "; ".join(parts))
    return "\n".join(lines)


def make_skewed_data(n_samples, n_features, seed):
    """Planted unit atoms used with Zipf-like frequencies, plus noise.

    A few atoms explain most of the variance, which is what Matryoshka
    prefixes can learn first.
    """
    generator = torch.Generator().manual_seed(seed)
    n_atoms, n_active = 4 * n_features, 8
    atoms = torch.randn(n_atoms, n_features, generator=generator)
    atoms /= atoms.norm(dim=1, keepdim=True)
    frequency = 1.0 / torch.arange(1, n_atoms + 1, dtype=torch.float64) ** 1.2
    chosen = torch.multinomial(
        frequency.expand(n_samples, -1), n_active, generator=generator
    )
    weights = torch.rand(n_samples, n_active, generator=generator) + 0.5
    X = F.embedding_bag(chosen, atoms, per_sample_weights=weights, mode="sum")
    X += 0.05 * torch.randn(n_samples, n_features, generator=generator)
    return X.double().numpy()


def compare_variants(args):
    """Held-out quality of the four training variants on the same data."""
    from sklearn_audioconcepts import TopKSparseAutoencoder

    if args.threads:
        torch.set_num_threads(args.threads)
    n_samples = args.n_samples or 8192
    n_features = args.n_features or 64
    k = args.k or 8
    n_latents = 8 * n_features
    X = make_skewed_data(n_samples + 2048, n_features, args.seed)
    train, test = X[:n_samples], X[n_samples:]
    total = ((test - test.mean(0)) ** 2).sum()
    first = n_latents // 8
    rows = []
    for sparsity in ("topk", "batch_topk"):
        for sizes in (None, [n_latents // 8, n_latents // 2]):
            sae = TopKSparseAutoencoder(
                n_latents=n_latents,
                k=k,
                sparsity=sparsity,
                matryoshka_sizes=sizes,
                aux_k=min(args.aux_k, n_latents // 2),
                batch_size=args.batch_size,
                max_epochs=args.epochs,
                device=args.device,
                progress=False,
                random_state=args.seed,
            )
            start = time.perf_counter()
            sae.fit(train)
            seconds = (time.perf_counter() - start) / args.epochs
            codes = sae.transform(test)
            l0 = (codes > 0).sum(axis=1)
            dead_fraction = float(((codes > 0).sum(axis=0) == 0).mean())
            fvu = ((test - sae.inverse_transform(codes)) ** 2).sum() / total
            codes[:, first:] = 0
            fvu_first = ((test - sae.inverse_transform(codes)) ** 2).sum() / total
            rows.append(
                {
                    "sparsity": sparsity,
                    "matryoshka": "-" if sizes is None else str(sizes),
                    "fvu": float(fvu),
                    f"fvu_first_{first}": float(fvu_first),
                    "mean_l0": float(l0.mean()),
                    "max_l0": int(l0.max()),
                    "dead_fraction": dead_fraction,
                    "s_per_epoch": seconds,
                }
            )
    header = (
        f"{'sparsity':<11}{'matryoshka':<12}{'FVU':>7}{f'FVU[:{first}]':>10}"
        f"{'L0 mean':>9}{'L0 max':>8}{'dead':>7}{'s/epoch':>9}"
    )
    lines = [
        f"Variants: N={n_samples} train / 2048 held out, d={n_features}, "
        f"L={n_latents}, k={k}, {args.epochs} epochs, batch {args.batch_size}, "
        f"device {args.device}",
        header,
    ]
    for row in rows:
        lines.append(
            f"{row['sparsity']:<11}{row['matryoshka']:<12}{row['fvu']:>7.3f}"
            f"{row[f'fvu_first_{first}']:>10.3f}{row['mean_l0']:>9.2f}"
            f"{row['max_l0']:>8d}{row['dead_fraction']:>7.3f}"
            f"{row['s_per_epoch']:>9.3f}"
        )
    text = "\n".join(lines)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps({"variants": rows, "table": text}, indent=2))
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.variants:
        return compare_variants(args)
    names = list(args.implementations)
    results = {
        "machine": machine_info(args),
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
        },
        "rows": [],
    }
    for multiplier in args.multipliers:
        row = {"multiplier": multiplier, "n_latents": multiplier * args.n_features}
        for name in names:
            print(f"[bench] L={row['n_latents']}: {name}", file=sys.stderr, flush=True)
            row[name] = run_isolated(name, multiplier, args)
        ours = row.get("ours", {})
        for name in names:
            if name != "ours":
                other = row[name]
                both = ours.get("available") and other.get("available")
                row[f"speedup_vs_{name}"] = (
                    ours["samples_per_s"] / other["samples_per_s"] if both else None
                )
        results["rows"].append(row)
    load = os.getloadavg() if hasattr(os, "getloadavg") else []
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in load]
    text = report(results, names)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    results["table"] = text
    return results


if __name__ == "__main__":
    main()
