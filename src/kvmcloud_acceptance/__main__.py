"""The kvmcloud-integration-tests command: parse the cloud's address and keys, run the tests."""

import argparse
import sys
from pathlib import Path

import pytest

from kvmcloud_acceptance import plugin
from kvmcloud_acceptance.plugin import Plugin, Settings

TESTS = Path(__file__).resolve().parent / "tests"


def parse(argv: list[str]) -> tuple[Settings, list[str]]:
    """Return the settings and the arguments left for pytest."""
    parser = argparse.ArgumentParser(
        prog="kvmcloud-integration-tests",
        description="Run kvmcloud's acceptance suite against a live cloud (CloudStack API). "
        "It creates what it needs under names starting with a run id, deletes it after, and "
        "never touches anything else.",
    )
    parser.add_argument(
        "--endpoint", required=True, help="API URL, e.g. http://mgmt:8080/client/api"
    )
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--zone", help="zone name (default: the only zone, or the first one)")
    parser.add_argument("--template-url", help="a direct-download template (QCOW2) for VM tests")
    parser.add_argument("--template-checksum", help="its checksum, e.g. {SHA-256}<hex>")
    parser.add_argument(
        "--template-format", default="QCOW2", help="format of --template-url (default QCOW2)"
    )
    parser.add_argument(
        "--serve-image",
        action="store_true",
        help="without --template-url: serve a tiny bootable RAW image from 127.0.0.1 for the "
        "VM tests (the cloud's egress policy must allow loopback downloads)",
    )
    parser.add_argument("--job-timeout", type=float, default=300.0, help="seconds per async job")
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest expression")
    parser.add_argument("-m", dest="marker", help="only tests matching this marker expression")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(
        endpoint=args.endpoint,
        api_key=args.api_key,
        secret_key=args.secret_key,
        zone=args.zone,
        template_url=args.template_url,
        template_checksum=args.template_checksum,
        template_format=args.template_format,
        serve_image=args.serve_image,
        job_timeout_s=args.job_timeout,
    )
    extra = ["-v"] if args.verbose else []
    if args.keyword:
        extra += ["-k", args.keyword]
    if args.marker:
        extra += ["-m", args.marker]
    return settings, extra


def main(argv: list[str] | None = None) -> int:
    """Run the bundled tests; the exit status is pytest's."""
    settings, extra = parse(sys.argv[1:] if argv is None else argv)
    # Installed under /usr/lib: never write bytecode or caches there.
    sys.dont_write_bytecode = True
    pytest_args = [
        str(TESTS),
        "--rootdir",
        str(TESTS),
        "--confcutdir",
        str(TESTS),
        # The suite's own settings, whatever pytest configuration the current directory has.
        "-c",
        str(TESTS / "pytest.ini"),
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "-ra",
        *extra,
    ]
    return int(pytest.main(pytest_args, plugins=[Plugin(settings), plugin]))


if __name__ == "__main__":
    sys.exit(main())
