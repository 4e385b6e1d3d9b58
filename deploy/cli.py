"""`python -m deploy <cloud> create|test|delete|status [--flags]`: parse, run one action, and turn every failure
into one line on stderr with a non-zero exit status (2: a prerequisite or the cloud said no; 1: unexpected)."""

from __future__ import annotations

import argparse
import os
import traceback
from collections.abc import Sequence

from deploy import clouds
from deploy.console import Console
from deploy.errors import DeployError
from deploy.settings import add_arguments, resolve

ACTION_HELP = (
    "create: make the endpoint and wait until it serves (a failed step removes what was made); "
    "test: send a document image (cloudrun: audio) and print the answer and the latency; "
    "delete: remove everything create made; status: state and cost per hour of what runs"
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.split(":")[0])
    sub = top.add_subparsers(dest="cloud", required=True, metavar="CLOUD")
    for name, summary in clouds.CLOUDS.items():
        cloud_parser = sub.add_parser(name, help=summary, description=summary)
        cloud_parser.add_argument("action", choices=clouds.ACTIONS, help=ACTION_HELP)
        add_arguments(cloud_parser, clouds.load(name).SETTINGS)
    return top


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    console = console or Console()
    args = vars(parser().parse_args(argv))
    cloud = clouds.load(args.pop("cloud"))
    action = args.pop("action")
    try:
        settings = resolve(cloud.SETTINGS, args)
        getattr(cloud, action)(settings, console)
        return 0
    except DeployError as error:
        console.fail(str(error))
        return 2
    except KeyboardInterrupt:
        console.fail("interrupted; run `status` to see what exists and `delete` to remove it")
        return 130
    except Exception as error:
        explained = cloud.explain(error)
        if explained:
            console.fail(explained)
            return 2
        if os.environ.get("DEPLOY_DEBUG"):
            console.fail(traceback.format_exc())
        console.fail(f"unexpected {type(error).__name__}: {error} (set DEPLOY_DEBUG=1 for the traceback)")
        return 1
