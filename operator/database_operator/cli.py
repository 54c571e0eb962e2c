"""`database-operator`: the project's command line."""

import argparse
import asyncio
import json
import logging
import sys

import kopf
import yaml
from pydantic import ValidationError

from database_api.crd import CRD_FILE, render_crd
from database_api.profiles import load_stacks_config
from database_operator.leadership import PEERING_NAME
from database_operator.settings import SettingsError, load_settings


def crd_command(args: argparse.Namespace) -> int:
    """Print the generated CRD, write it to crds/, or check that crds/ is current."""
    try:
        config = load_stacks_config()
    except (OSError, ValueError, yaml.YAMLError) as error:  # pydantic's ValidationError is a ValueError
        print(f"error: cannot load stacks-config: {_one_line(error)}", file=sys.stderr)
        return 1
    text = render_crd(config)
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


def _one_line(error: Exception) -> str:
    """An error's message, with pydantic's validation errors as `field: message` pairs."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg'].removeprefix('Value error, ')}"
            for detail in error.errors()
        )
    return str(error)


def rbac_command(args: argparse.Namespace) -> int:
    """Print the RBAC for the served namespaces (cluster-wide without --namespaces), or write or check
    deploy/'s cluster-wide copy."""
    from database_operator import rbac  # noqa: PLC0415

    try:
        namespaces = None if args.namespaces is None else rbac.served_namespaces(args.namespaces)
        account = rbac.service_account(args.service_account)
    except rbac.NamespaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    text = rbac.render(namespaces, account)
    deployed = rbac.RBAC_FILE
    if args.write or args.check:
        if namespaces is not None or account != rbac.Account():
            print(f"error: {deployed.name} is the default: drop --namespaces and --service-account", file=sys.stderr)
            return 1
        if args.check:
            if not deployed.exists() or deployed.read_text() != text:
                print(f"{deployed} is stale: run `database-operator rbac --write`", file=sys.stderr)
                return 1
            return 0
        deployed.write_text(text)
        print(f"wrote {deployed}")
        return 0
    sys.stdout.write(text)
    return 0


# `preview` exit codes, so a CI pipeline can gate on them (like `terraform plan -detailed-exitcode`).
NO_CHANGES, ERROR, CHANGES = 0, 1, 2


async def _preview(args: argparse.Namespace, text: str) -> int:
    # Imported here: these pull in kopf's and Pulumi's machinery, which `crd` does not need.
    from database_api.spec import SpecError  # noqa: PLC0415
    from database_operator.kube import Kube  # noqa: PLC0415
    from database_operator.plan import render_json, render_text  # noqa: PLC0415
    from database_operator.review import proposed_databases, review  # noqa: PLC0415
    from database_operator.runtime import Runtime  # noqa: PLC0415
    from database_operator.stack_errors import StackError  # noqa: PLC0415
    from database_operator.stacks import Stacks  # noqa: PLC0415

    proposals = proposed_databases(text, args.namespace)
    settings = load_settings()
    stacks = Stacks(settings)
    kube = await Kube.connect()
    try:
        rt = Runtime(
            settings=settings,
            stacks_config=load_stacks_config(),
            stacks=stacks,
            kube=kube,
            service_monitor_available=await kube.serves_api_group("monitoring.coreos.com"),
        )
        outcome, reports = NO_CHANGES, []
        for proposal in proposals:
            try:
                plan = await review(rt, proposal)
            except (SpecError, StackError) as error:
                print(f"{proposal.title}: {error}", file=sys.stderr)
                outcome = ERROR
                continue
            if plan.changed and outcome == NO_CHANGES:
                outcome = CHANGES
            if args.output == "json":
                reports.append({"namespace": proposal.namespace, "name": proposal.name, **render_json(plan)})
            else:
                print(render_text(proposal.title, plan))
        if args.output == "json":
            print(json.dumps(reports, indent=2))
        return outcome
    finally:
        await kube.close()


def preview_command(args: argparse.Namespace) -> int:
    """Print what applying a Database YAML would do, changing nothing; exit 0 (no changes), 2 (changes), 1."""
    from kubernetes_asyncio.client.exceptions import ApiException  # noqa: PLC0415
    from kubernetes_asyncio.config import ConfigException  # noqa: PLC0415

    from database_operator.review import ProposalError  # noqa: PLC0415
    from database_operator.toolchain import ToolchainError  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        text = sys.stdin.read() if args.filename == "-" else open(args.filename).read()  # noqa: SIM115
        return asyncio.run(_preview(args, text))
    # OSError includes an unreachable API server; ApiException a refused read (RBAC).
    except (OSError, ApiException, ConfigException, ProposalError, SettingsError, ToolchainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ERROR


def run_command(args: argparse.Namespace) -> int:
    """Run the operator against the current kubeconfig, or in-cluster with its service account."""
    # Importing the handlers registers them with kopf; only `run` wants that.
    from database_operator import handlers  # noqa: F401, PLC0415

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        namespaces = load_settings().namespaces
    except SettingsError as error:  # before kopf starts: one line naming the setting, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    kopf.run(
        peering_name=PEERING_NAME,  # leader election: leadership.py
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
    rbac = commands.add_parser(
        "rbac",
        help="print the operator's least-privilege RBAC (cluster-wide, or for --namespaces)",
        description="Print the ServiceAccount, roles, bindings and webhook configurations the operator needs: "
        "cluster-wide, or with --namespaces a Role and RoleBinding in each served namespace (run the operator "
        "with the same DBOP_NAMESPACES).",
    )
    rbac.add_argument("--namespaces", help="comma-separated namespaces the operator serves (namespaced mode)")
    rbac.add_argument(
        "--service-account",
        default="database-operator/database-operator",
        help="the operator's ServiceAccount as namespace/name (default: %(default)s)",
    )
    written = rbac.add_mutually_exclusive_group()
    written.add_argument("--write", action="store_true", help="write the cluster-wide RBAC to deploy/rbac.yaml")
    written.add_argument("--check", action="store_true", help="exit 1 if deploy/rbac.yaml differs from it")
    rbac.set_defaults(handler=rbac_command)
    run = commands.add_parser("run", help="run the operator (current kubeconfig, or in-cluster)")
    run.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness probe endpoint")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.set_defaults(handler=run_command)
    preview = commands.add_parser(
        "preview",
        help="show what applying a Database YAML would change (exit 0: no changes, 2: changes, 1: error)",
        description="Preview a new or changed Database against its live stack, changing nothing. Uses the "
        "operator's backend and passphrase (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE[_FILE], DBOP_STATE_DIR) "
        "and the current kubeconfig.",
    )
    preview.add_argument("-f", "--filename", default="-", help="Database YAML file, or - for stdin (default)")
    preview.add_argument("-n", "--namespace", default="default", help="namespace when the YAML names none")
    preview.add_argument("-o", "--output", choices=["text", "json"], default="text", help="output format")
    preview.set_defaults(handler=preview_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
