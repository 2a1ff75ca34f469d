#!/usr/bin/env python
"""Loss-weight ablation: train a grid of option overrides x seeds, evaluate, report.

    python scripts/ablate.py -opt options/esrgan.yml --grid train.gan.weight=0,1e-3,5e-3,1e-2 \\
        --grid train.losses.perceptual.weight=0,1 [--seeds 0,1,2] [--jobs N] [--out DIR] [key=value ...]

Every run is an ordinary experiment in <out>/runs/<name>/ (resume one alone with
`python train_sr.py -opt <out>/runs/<name>/options.yml --auto-resume`). Re-running the same command
skips finished runs and resumes interrupted ones. Writes <out>/ablation.json, results.csv,
results.md, perception_distortion.png, training_curves.png and report.html.
Exit status: 0 all runs finished, 1 some run failed, 2 bad options (nothing started).
"""
import argparse
import os
import sys
import time


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-opt", "--opt", required=True, type=cli.existing_file, help="base option YAML file")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="one axis of the grid (repeat for a Cartesian product); a train.losses entry by its "
                        "name, e.g. train.losses.perceptual.weight=0,1")
    p.add_argument("--seeds", help="comma-separated seeds, each grid cell trained once per seed (default: the file's seed)")
    p.add_argument("--jobs", type=cli.integer(min=1), default=1, help="runs trained at the same time (default 1)")
    p.add_argument("--out", type=cli.output_dir, help="sweep folder (default: experiments/ablation_<name>)")
    p.add_argument("--name", help="run-name prefix (default: the option file's name)")
    p.add_argument("--no-report", action="store_true", help="train and evaluate only (no plots / HTML)")
    p.add_argument("overrides", nargs="*", help="overrides applied to every run, e.g. train.total_iter=200")

    from sr_gan import options
    from sr_gan.ablation import grid, report, runner
    from sr_gan.ablation.evaluate import cached_evaluate, val_sets
    from sr_gan.errors import SRGanError
    t0 = time.time()
    try:
        args = p.parse_args(argv)
        axes = [grid.parse_grid(g) for g in args.grid]
        seeds = grid.parse_seeds(args.seeds)
        base = options.load(args.opt, args.overrides)
        options.check_training(base, args.opt)
        prefix = grid.safe(args.name or base["name"])
        out = args.out or os.path.join(base["path"]["experiments_root"], f"ablation_{prefix}")
        if os.path.exists(out) and not os.path.isdir(out):
            raise SRGanError(f"{out}: the sweep folder is a file (use --out)")
        runs = grid.expand(args.opt, axes, seeds, args.overrides, os.path.join(out, "runs"), prefix)
    except SRGanError as e:
        return cli.report(e)
    os.makedirs(out, exist_ok=True)
    print(f"{len(runs)} runs ({' x '.join(str(len(a.values)) for a in axes) or '1'} grid cells x "
          f"{len(seeds or [base['seed']])} seed(s)) in {out}")

    def manifest(outcomes=None) -> dict:
        status = {o.name: o.status for o in outcomes or []}
        return {"options": args.opt, "overrides": args.overrides, "prefix": prefix, "out": out,
                "grid": [{"key": a.key, "values": a.values, "texts": a.texts} for a in axes],
                "seeds": seeds or [base["seed"]],
                "val_sets": val_sets(runs[0].opt),
                "opt": {k: v for k, v in runs[0].opt.items() if not k.startswith("_")},
                "runs": [{"name": r.name, "cell": r.cell, "point": r.point, "seed": r.seed,
                          "total_iter": r.opt["train"]["total_iter"], "status": status.get(r.name, "pending")}
                         for r in runs]}

    report.write_json(os.path.join(out, report.MANIFEST), manifest())
    try:
        outcomes = runner.execute(runs, out, args.jobs)
    except KeyboardInterrupt:
        print("interrupted: running runs saved a checkpoint; run the same command again to resume", file=sys.stderr)
        return 130
    report.write_json(os.path.join(out, report.MANIFEST), manifest(outcomes))

    eval_failed = []
    for run, res in zip(runs, outcomes):
        if res.status == "failed":
            continue
        folder = runner.run_dir(out, run.name)
        try:
            ckpt = runner.final_checkpoint(folder, run.opt["train"]["total_iter"])
            results = cached_evaluate(folder, ckpt, run.opt)
            first = next(iter(results.values()), {}).get("model", {})
            print(f"[eval]   {run.name}: " + " ".join(
                f"{m}={v:.4f}" if isinstance(v, float) else f"{m}={v}" for m, v in first.items()))
        except SRGanError as e:
            eval_failed.append(f"{run.name}: evaluation failed: {e}")
            print(f"[FAILED] {eval_failed[-1]}", file=sys.stderr)
    try:
        if not args.no_report:
            report.build(out)
    except SRGanError as e:
        print(f"error: report: {e}", file=sys.stderr)
        return 1
    print(runner.summary(outcomes))
    for line in eval_failed:
        print(f"  {line}")
    print(f"total time {time.time() - t0:.0f} s")
    return 1 if eval_failed or any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
