"""Run, install or inspect the per-device agent.

kairos agent run [--bind ENDPOINT] [--class auto|NAME] [--state-dir DIR] [--config FILE]
                 [--ready-file FILE] [--device NAME] [--curve-key NAME_OR_FILE]
                 [--trusted-dir DIR]
                 (beyond loopback --curve-key is required: CurveZMQ with the allow-list of
                 launcher keys in --trusted-dir; see docs/security.md)
kairos agent status [--endpoint ENDPOINT] [--json]
kairos agent install ... / kairos agent uninstall ...   (service set-up: systemd, launchd)
"""

from __future__ import annotations

import argparse

from kairos.agent.config import DEFAULT_BIND, add_run_arguments
from kairos.errors import EXIT_OK
from kairos.tools import _json, agent_install


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run the agent in the foreground")
    add_run_arguments(run)
    status = actions.add_parser("status", help="ask a running agent for its actors and health")
    status.add_argument("--endpoint", default=DEFAULT_BIND, help="the agent's control endpoint")
    status.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for it")
    status.add_argument("--json", action="store_true", help="print the replies as JSON")
    agent_install.configure_install(
        actions.add_parser("install", help="install the agent as a service")
    )
    agent_install.configure_uninstall(
        actions.add_parser("uninstall", help="remove the agent service")
    )


def run(args: argparse.Namespace) -> int:
    if args.agent_command == "run":
        from kairos import _log
        from kairos.agent.config import config_from_args
        from kairos.agent.daemon import Agent

        config = config_from_args(args)
        if config.log_level:
            _log.configure(json=args.log_json, level=config.log_level)
        return Agent(config).serve()
    if args.agent_command == "status":
        return _status(args)
    if args.agent_command == "install":
        return int(agent_install.run_install(args))
    return int(agent_install.run_uninstall(args))


def _status(args: argparse.Namespace) -> int:
    from kairos.control.client import ControlClient
    from kairos.control.commands import Health, Hello, Status

    with ControlClient(args.endpoint, timeout_s=args.timeout) as client:
        hello = client.hello()
        status = client.call(Status())
        health = client.call(Health())
    if args.json:
        print(
            _json.dumps(
                {
                    Hello.name: hello.to_map(),
                    Status.name: status.to_map(),
                    Health.name: health.to_map(),
                }
            )
        )
        return EXIT_OK
    print(
        f"agent {args.endpoint}: device {hello.device} ({hello.device_class}), "
        f"kairos {hello.agent_version}, protocol {hello.version}"
    )
    load, temperature = health.load, health.temperature_c
    print(
        f"cpu {health.cpu_percent:.0f}%  memory {health.memory_percent:.0f}%  "
        f"load {' '.join(f'{v:.2f}' for v in load) if load else 'n/a'}  "
        f"temperature {f'{temperature:.1f} °C' if temperature else 'n/a'}  "
        f"agent rss {health.agent_rss_bytes / 2**20:.1f} MiB"
    )
    if not status.actors:
        print("no actors")
    for actor in status.actors:
        print(
            f"  {actor.name:<20} {actor.state:<8} pid {actor.pid or '-':<8} "
            f"restarts {actor.restarts:<3} last exit {actor.last_exit} "
            f"uptime {actor.uptime_s:.0f} s  spec {actor.spec_hash}"
        )
    return EXIT_OK
