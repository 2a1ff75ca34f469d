"""Train a super-resolution model from one option file (`sr-train`, or `python train_sr.py` in a clone).

    sr-train -opt options/demo.yml [key.sub=value ...] [--resume PATH|latest] [--auto-resume]
    torchrun --nproc_per_node=2 train_sr.py -opt options/esrgan.yml
"""
import argparse
import sys


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-opt", "--opt", required=True, type=cli.existing_file, help="option YAML file")
    p.add_argument("overrides", nargs="*", help="option overrides, e.g. train.total_iter=1000 datasets.train.batch=8")
    p.add_argument("--resume", metavar="PATH|latest", type=lambda t: t if t == "latest" else cli.existing_path(t),
                   help="continue from a checkpoint of this experiment")
    p.add_argument("--auto-resume", action="store_true", help="continue from the newest loadable checkpoint, if any")
    from sr_gan.cli import run_cli

    def body():
        args = p.parse_args(argv)
        from sr_gan import options
        from sr_gan.train import run
        try:
            run(options.load(args.opt, args.overrides), resume=args.resume, auto_resume=args.auto_resume)
        except SystemExit as e:   # clean stop after SIGINT/SIGTERM (checkpoint already saved)
            return int(e.code or 0)
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
