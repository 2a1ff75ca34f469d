"""Convert a BasicSR / Real-ESRGAN training option file into an sr_gan one (`sr-convert`).

    python scripts/convert_options.py BASICSR.yml [-o OUT.yml] [--set KEY=VALUE ...]

Every source key is converted, converted with a note (where sr_gan's behaviour is not identical), or
listed as NOT MAPPED (its setting is lost); both lists go to stderr and into a comment block at the top of
the output. --set applies sr_gan overrides to the result (e.g. --set datasets.train.hr=/data/DIV2K_HR).
The result is then validated like `train_sr.py` would (dataset folders not required to exist).
Exit status: 0 converted and valid, 1 converted but not valid yet (the reason is printed), 2 bad input.
"""
from __future__ import annotations

import argparse
import sys


def override(text: str) -> tuple[str, list[str], object]:
    """'--set KEY=VALUE' -> (text, keys, value) as options.parse_override reads it; an argparse type."""
    from sr_gan import options
    from sr_gan.errors import OptionError
    try:
        return (text, *options.parse_override(text))
    except OptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_args(argv=None) -> argparse.Namespace:
    import os

    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=cli.existing_file, help="BasicSR / Real-ESRGAN training option file (YAML)")
    p.add_argument("-o", "--output", type=cli.output_file, help="sr_gan option file to write (default: print it)")
    p.add_argument("--set", action="append", default=[], type=override, metavar="KEY=VALUE", dest="overrides",
                   help="sr_gan override applied to the converted options (repeatable)")
    args = p.parse_args(argv)
    if args.output and os.path.abspath(args.output) == os.path.abspath(args.source):
        p.error(f"argument -o: '{args.output}' is the source file; refusing to overwrite it")
    return args


def run(args) -> int:
    import os

    from sr_gan import options
    from sr_gan.convert import convert
    from sr_gan.errors import OptionError
    result = convert(options.read_yaml(args.source))
    for text, keys, value in args.overrides:
        try:
            options.apply_override(result.options, keys, value)
        except OptionError as e:
            raise OptionError(f"--set {text}: {e}") from None
    for line in result.report():
        print(line, file=sys.stderr)
    text = result.text(os.path.basename(args.source))
    if args.output:
        tmp = f"{args.output}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.output)
        print(f"wrote {args.output} ({len(result.unmapped)} keys not mapped, {len(result.notes)} notes)",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    try:
        options.validate(result.options, src=args.output or "converted options")
    except OptionError as e:
        print(f"not valid yet: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    from sr_gan.cli import run_cli
    return run_cli(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
