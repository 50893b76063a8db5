"""`kvmcloud`: `api <command> key=value…` (signed or by login session), `login`, `logout`."""

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from kvmcloud import __version__
from kvmcloud.cli.api_client import (
    DEFAULT_JOB_TIMEOUT_S,
    DEFAULT_POLL_INTERVAL_S,
    ApiCallError,
    ApiClient,
    ApiClientError,
    JsonObject,
)
from kvmcloud.cli.session_profile import (
    ProfileError,
    SessionProfile,
    load_profile,
    profile_path,
    remove_profile,
    save_profile,
)
from kvmcloud.cli.settings import (
    API_KEY_VAR,
    DEFAULT_URL,
    SECRET_KEY_VAR,
    URL_VAR,
    CliSettings,
    SettingsError,
    process_environ,
)
from kvmcloud.cli.template_downloads import follow_pool_downloads, pool_downloads

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Per HTTP request; waiting for jobs is bounded separately by --timeout.
HTTP_TIMEOUT_S = 60.0

# The one command whose reply lists jobs (one per pool) that --wait follows.
PREPARE_TEMPLATE = "preparetemplate"

_DESCRIPTION = """\
Call a CloudStack-compatible API with signed requests.

  kvmcloud api listZones
  kvmcloud api registerTemplate name=t url=http://h/t.qcow2 zoneid=… format=QCOW2 \\
      hypervisor=KVM ostypeid=… directdownload=true \\
      'details[0].HTTP_HEADER:X-Auth-Token=secret'
  kvmcloud api prepareTemplate templateid=… zoneid=… --wait

  kvmcloud login --username admin        (asks for the password)
  kvmcloud logout

Async commands are followed until their job ends and the job result is printed.
Settings come from the flags or KVMCLOUD_URL, KVMCLOUD_API_KEY, KVMCLOUD_SECRET_KEY;
without keys, `api` uses the session `login` saved (KVMCLOUD_SESSION_FILE, default
~/.config/kvmcloud/session.json, mode 0600).
"""


class UsageError(ValueError):
    """The command line cannot be understood; the text says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiInvocation:
    """What ``kvmcloud api …`` was asked to do."""

    command: str
    params: dict[str, str]
    post: bool = False
    wait_for_job: bool = True
    follow_downloads: bool = False
    timeout_s: float = DEFAULT_JOB_TIMEOUT_S
    # Settings given as flags, keyed by the environment variable they stand in for.
    setting_overrides: dict[str, str] = field(default_factory=dict)


def main(
    argv: Sequence[str] | None = None,
    *,
    ask_password: Callable[[str], str] = getpass.getpass,
    ask: Callable[[str], str] = input,
) -> int:
    """Run the ``kvmcloud`` command line and return its exit status."""
    args, _extras = _build_parser().parse_known_args(argv)
    if args.verb in ("login", "logout"):
        return _session_verb(args, process_environ(), ask_password=ask_password, ask=ask)
    invocation = parse_args(argv)
    environ = {**process_environ(), **invocation.setting_overrides}
    try:
        settings = CliSettings.from_env(environ)
        url, key, secret, session = settings.url, settings.api_key, settings.secret_key, None
    except SettingsError as exc:
        try:
            profile = _session_for(environ)
        except ProfileError as bad:
            print(f"error: {bad}", file=sys.stderr)
            return EXIT_USAGE
        if profile is None:
            print(f"error: {exc}, or log in with `kvmcloud login`", file=sys.stderr)
            return EXIT_USAGE
        url, key, secret = profile.url, "", ""
        session = (profile.session_id, profile.session_key)
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
        client = ApiClient(url, key, secret, http=http, use_post=invocation.post, session=session)
        return run_api(client, invocation, stdout=sys.stdout, stderr=sys.stderr)


def _session_for(environ: Mapping[str, str]) -> SessionProfile | None:
    """The saved session, if it is for the endpoint asked for (any, when none is)."""
    profile = load_profile(profile_path(environ))
    wanted = environ.get(URL_VAR)
    if profile is None or (wanted and wanted != profile.url):
        return None
    return profile


def _session_verb(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    ask_password: Callable[[str], str],
    ask: Callable[[str], str],
) -> int:
    path = profile_path(environ)
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
            if args.verb == "logout":
                profile = load_profile(path)
                if profile is not None:
                    session = (profile.session_id, profile.session_key)
                    ApiClient(profile.url, "", "", http=http, session=session).log_out()
                remove_profile(path)
                print("logged out" if profile is not None else "no session to end")
                return EXIT_OK
            url = args.url or environ.get(URL_VAR) or DEFAULT_URL
            username = args.username or ask("username: ").strip()
            password = ask_password(f"password for {username}: ")
            session_id, session_key = ApiClient(url, "", "", http=http).log_in(
                username, password, args.domain
            )
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiClientError as exc:
        print(exc if isinstance(exc, ApiCallError) else f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    profile = SessionProfile(
        url=url, username=username, session_id=session_id, session_key=session_key
    )
    save_profile(path, profile)
    print(f"logged in as {username} at {url}; session saved in {path}")
    return EXIT_OK


def run_api(
    client: ApiClient,
    invocation: ApiInvocation,
    *,
    stdout: TextIO,
    stderr: TextIO,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> int:
    """Make the call, follow what it started, print the result; return the exit status."""
    try:
        reply = client.call(invocation.command, invocation.params)
        if invocation.follow_downloads:
            return _follow_downloads(client, reply, invocation, stdout, stderr, poll_interval_s)
        if invocation.wait_for_job and _is_job_reply(reply):
            reply = client.wait_for_job(
                str(reply["jobid"]), poll_interval_s=poll_interval_s, timeout_s=invocation.timeout_s
            )
    except ApiCallError as exc:
        print(exc, file=stderr)  # already "error <code>: <errortext>"
        return EXIT_FAILED
    except ApiClientError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_FAILED
    _print_json(reply, stdout)
    return EXIT_OK


def parse_args(argv: Sequence[str] | None = None) -> ApiInvocation:
    """Parse the command line; exits with status 2 and a usage message when it is wrong."""
    parser = _build_parser()
    args, extras = parser.parse_known_args(argv)
    # argparse cannot give `key=value` arguments that follow a flag to the positional list,
    # so they come back as extras; anything else left over is a real mistake.
    unknown = [arg for arg in extras if arg.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        params = parse_params([*args.params, *extras])
    except UsageError as exc:
        parser.error(str(exc))
    command: str = args.command
    if args.wait and command.lower() != PREPARE_TEMPLATE:
        parser.error("--wait applies to prepareTemplate only; async jobs are waited for anyway")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    overrides = {
        var: value
        for var, value in (
            (URL_VAR, args.url),
            (API_KEY_VAR, args.api_key),
            (SECRET_KEY_VAR, args.secret_key),
        )
        if value
    }
    return ApiInvocation(
        command=command,
        params=params,
        post=args.post,
        wait_for_job=not args.no_wait,
        follow_downloads=args.wait,
        timeout_s=args.timeout,
        setting_overrides=overrides,
    )


def parse_params(arguments: Sequence[str]) -> dict[str, str]:
    """Turn ``key=value`` arguments into parameters, splitting on the first ``=``.

    Map parameters such as ``details[0].HTTP_HEADER:X-Auth-Token=secret`` pass through
    unchanged; a repeated key keeps its last value.

    Raises:
        UsageError: an argument has no ``=`` or an empty key.
    """
    params = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {argument!r}")
        params[key] = value
    return params


def _follow_downloads(
    client: ApiClient,
    reply: JsonObject,
    invocation: ApiInvocation,
    stdout: TextIO,
    stderr: TextIO,
    poll_interval_s: float,
) -> int:
    downloads = pool_downloads(reply)
    if not any(download.jobid for download in downloads):
        _print_json(reply, stdout)
        return EXIT_OK
    outcomes = follow_pool_downloads(
        client,
        downloads,
        stderr,
        redraw=stderr.isatty(),
        poll_interval_s=poll_interval_s,
        timeout_s=invocation.timeout_s,
    )
    _print_json([outcome.to_json() for outcome in outcomes], stdout)
    status = EXIT_OK
    for outcome in outcomes:
        if outcome.error is not None:
            print(f"{outcome.error} (pool {outcome.download.label})", file=stderr)
            status = EXIT_FAILED
    return status


def _is_job_reply(reply: JsonObject) -> bool:
    # queryAsyncJobResult itself carries a jobid; only a reply without a status starts a job.
    return "jobid" in reply and "jobstatus" not in reply


def _print_json(value: object, stream: TextIO) -> None:
    stream.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _add_connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--url", default=default, help=f"API endpoint (env {URL_VAR})")
    parser.add_argument("--api-key", default=default, help=f"API key (env {API_KEY_VAR})")
    parser.add_argument("--secret-key", default=default, help=f"secret key (env {SECRET_KEY_VAR})")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvmcloud",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kvmcloud {__version__}")
    _add_connection_options(parser, None)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    api = verbs.add_parser("api", help="call one API command: api <command> key=value …")
    # SUPPRESS keeps a flag given before `api` from being reset by the subcommand's default.
    _add_connection_options(api, argparse.SUPPRESS)
    api.add_argument("command", help="API command name, e.g. listTemplates")
    api.add_argument("params", nargs="*", metavar="key=value", help="command parameters")
    api.add_argument("--post", action="store_true", help="send a form POST instead of a GET")
    api.add_argument(
        "--no-wait", action="store_true", help="print an async command's jobid and return"
    )
    api.add_argument(
        "--wait",
        action="store_true",
        help="prepareTemplate: follow every pool's download job with a progress bar",
    )
    api.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_JOB_TIMEOUT_S,
        metavar="S",
        help=f"give up waiting for jobs after S seconds (default {DEFAULT_JOB_TIMEOUT_S:g})",
    )
    login = verbs.add_parser("login", help="log in with a password; api calls then use it")
    login.add_argument("--url", default=argparse.SUPPRESS, help=f"API endpoint (env {URL_VAR})")
    login.add_argument("--username", help="user name (asked for when not given)")
    login.add_argument("--domain", help="the user's domain path (default: ROOT, /)")
    verbs.add_parser("logout", help="end the saved session and forget it")
    return parser


if __name__ == "__main__":
    sys.exit(main())
