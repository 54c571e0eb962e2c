"""`database-operator`: the project's command line."""

import argparse
import logging
import sys

import kopf

from database_api.crd import CRD_FILE, render_crd
from database_api.profiles import load_stacks_config
from database_operator.settings import load_settings


def crd_command(args: argparse.Namespace) -> int:
    """Print the generated CRD, write it to crds/, or check that crds/ is current."""
    text = render_crd(load_stacks_config())
    if args.check:
        if CRD_FILE.read_text() != text:
            print(f"{CRD_FILE} is stale: run `database-operator crd --write`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        CRD_FILE.write_text(text)
        print(f"wrote {CRD_FILE}")
        return 0
    sys.stdout.write(text)
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run the operator against the current kubeconfig, or in-cluster with its service account."""
    # Importing the handlers registers them with kopf; only `run` wants that.
    from database_operator import handlers  # noqa: F401, PLC0415

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    namespaces = load_settings().namespaces
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="database-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    crd = commands.add_parser("crd", help="print the Database CRD generated from the model and stacks-config/")
    mode = crd.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write it to {CRD_FILE.name} in crds/")
    mode.add_argument("--check", action="store_true", help="exit 1 if crds/ differs from the generated CRD")
    crd.set_defaults(handler=crd_command)
    run = commands.add_parser("run", help="run the operator (current kubeconfig, or in-cluster)")
    run.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness probe endpoint")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.set_defaults(handler=run_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
