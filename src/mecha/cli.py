"""`mecha run | version`: parse the command line, build a RuntimeConfig, run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import mecha
from mecha import config as runtime_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mecha", description="A distributed application runtime that speaks Dapr's API."
    )
    parser.add_argument("--version", action="version", version=f"mecha {mecha.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="start the runtime (and an app after --)",
        description="Start the runtime; with `-- cmd args...` also the app, stopping with it.",
    )
    runtime_config.build_parser(run)
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    app_command: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, app_command = args_list[:split], args_list[split + 1 :]
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command == "version":
        print(mecha.__version__)
        return 0
    if args.command != "run":
        parser.print_help()
        return 2
    try:
        config = runtime_config.from_args(args, app_command)
    except runtime_config.ConfigError as error:
        print(f"mecha: {error}", file=sys.stderr)
        return 2
    return _run(config)


def _tune_gc() -> None:
    """Cyclic GC settings for a server whose requests allocate short-lived objects.

    With 64 requests in flight their live objects alone near the default 700-allocation
    threshold, so young collections ran every few dozen requests, about 4 µs per invocation;
    at 10,000 they are rare. What startup imported is frozen: full collections skip it.
    """
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _warn_if_edited_since_build() -> None:
    import logging

    from mecha import build

    edited = build.edited_since_build()
    if edited:
        names = ", ".join(str(path.relative_to(build.SRC)) for path in edited)
        logging.getLogger("mecha.runtime").warning(
            "%s changed after the compiled build and run as built: run scripts/setup to rebuild",
            names,
        )


def _run(config: runtime_config.RuntimeConfig) -> int:
    from mecha.observability import logging as mecha_logging

    mecha_logging.setup(config.log_level, as_json=config.log_as_json, app_id=config.app_id)
    _warn_if_edited_since_build()
    # The app is started with fork+exec; gRPC's fork handlers are only noise for that.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    # Imported here so `mecha --help` stays instant.
    import uvloop

    from mecha.dapr_protos import skip_sdk_package_inits

    skip_sdk_package_inits()
    from mecha.runtime import Runtime, StartupError

    _tune_gc()

    async def serve() -> int:
        return await Runtime(config).run()

    try:
        return uvloop.run(serve())
    except StartupError as error:
        print(f"mecha: {error}", file=sys.stderr)
        return 1
