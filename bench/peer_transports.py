"""Peer transports for issue 19: HTTP Range over mutual TLS vs aria2c vs libtorrent, one file.

Usage: python -m bench.peer_transports [--size-mib 256]

One host holds a verified copy; another fetches it on loopback and hashes it (sha256), as a
receiving agent would. Each candidate is timed side by side in one run:

* ``https-mtls``: the agent's own stack (Starlette + uvicorn serving the file with Range,
  httpx reading it with a client certificate from the same CA), hashed while streaming;
* ``aria2c-mtls``: aria2c fetching the same URL with the same client certificate (what an
  aria2 Metalink with peers as mirrors would do), then sha256 of the file;
* ``libtorrent``: a seeding and a leeching libtorrent session (Debian's python3-libtorrent,
  run with /usr/bin/python3), no DHT, no LSD, no trackers, the seed added by hand; plain
  TCP (no TLS), then sha256 of the file. Skipped when the module is missing.

Not a timed test: prints a table. Figures are noisy on a shared machine; read the ratios.
"""

import argparse
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from kvmcloud import pki

CHUNK = 1024 * 1024

LIBTORRENT_SCRIPT = r"""
import hashlib, sys, time
import libtorrent as lt
src, dst_dir, piece_kib = sys.argv[1], sys.argv[2], int(sys.argv[3])
fs = lt.file_storage()
lt.add_files(fs, src)
t = lt.create_torrent(fs, piece_kib * 1024)
lt.set_piece_hashes(t, str(__import__("pathlib").Path(src).parent))
info = lt.torrent_info(t.generate())
settings = {"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
            "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0",
            "allow_multiple_connections_per_ip": True}
seed = lt.session(settings)
leech = lt.session(settings)
import os.path
h_seed = seed.add_torrent({"ti": info, "save_path": os.path.dirname(src)})
start = time.monotonic()
h_leech = leech.add_torrent({"ti": lt.torrent_info(info), "save_path": dst_dir})
deadline = time.monotonic() + 600
while not h_seed.status().is_seeding and time.monotonic() < deadline:
    time.sleep(0.05)
start = time.monotonic()
h_leech.connect_peer(("127.0.0.1", seed.listen_port()))
while not h_leech.status().is_seeding and time.monotonic() < deadline:
    time.sleep(0.02)
fetched = time.monotonic() - start
digest = hashlib.sha256()
with open(os.path.join(dst_dir, os.path.basename(src)), "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
print(fetched, time.monotonic() - start, digest.hexdigest())
"""


def main(argv: list[str] | None = None) -> int:
    """Run every candidate once on one file and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        root = Path(tmp)
        source = root / "seed" / "template.qcow2"
        source.parent.mkdir()
        with source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(CHUNK))
        expected = _sha256(source)
        tls = _pki(root)
        port = _free_port()
        server = _serve(source, tls, port)
        try:
            url = f"https://127.0.0.1:{port}/template.qcow2"
            rows = [
                ("https-mtls (kvmcloud stack)", _https(url, tls)),
                ("aria2c-mtls", _aria2c(url, tls, root)),
                ("libtorrent (no TLS)", _libtorrent(source, root)),
            ]
        finally:
            server.should_exit = True
    print(f"file {args.size_mib} MiB, loadavg {Path('/proc/loadavg').read_text().strip()}")
    print(f"{'candidate':32} {'wall s':>8} {'MB/s':>8} {'vs https':>9}  digest")
    base = rows[0][1][0] if rows[0][1] else None
    for name, result in rows:
        if result is None:
            print(f"{name:32} {'skipped':>8}")
            continue
        wall_s, digest = result
        mbps = args.size_mib * CHUNK / wall_s / 1e6
        ratio = f"{wall_s / base:.2f}x" if base else "-"
        ok = "ok" if digest == expected else "MISMATCH"
        print(f"{name:32} {wall_s:8.2f} {mbps:8.1f} {ratio:>9}  {ok}")
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _pki(root: Path) -> dict[str, Path]:
    now = datetime.now(UTC)
    ca_key, ca_cert = pki.new_ca(now)
    files: dict[str, Path] = {"ca": root / "ca.pem"}
    files["ca"].write_text(ca_cert)
    for role in ("server", "client"):
        key = pki.new_key_pem()
        cert = pki.issue(
            ca_key,
            ca_cert,
            pki.public_key_pem(key),
            common_name=role,
            addresses=["127.0.0.1"],
            now=now,
        )
        files[f"{role}_key"] = root / f"{role}.key"
        files[f"{role}_cert"] = root / f"{role}.pem"
        files[f"{role}_key"].write_text(key)
        files[f"{role}_cert"].write_text(cert)
    return files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(source: Path, tls: dict[str, Path], port: int) -> uvicorn.Server:
    async def read(request: Request) -> FileResponse:
        return FileResponse(source)  # honours one Range, as the agent's route does

    app = Starlette(routes=[Route("/template.qcow2", read)])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_keyfile=str(tls["server_key"]),
        ssl_certfile=str(tls["server_cert"]),
        ssl_ca_certs=str(tls["ca"]),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server


def _https(url: str, tls: dict[str, Path]) -> tuple[float, str]:
    context = pki.tls_context(server=False)
    context.load_cert_chain(tls["client_cert"], tls["client_key"])
    context.load_verify_locations(cafile=tls["ca"])
    start = time.monotonic()
    digest = hashlib.sha256()
    with (
        httpx.Client(verify=context, timeout=60.0) as client,
        client.stream("GET", url, headers={"Range": "bytes=0-"}) as response,
    ):
        response.raise_for_status()
        for block in response.iter_raw(CHUNK):
            digest.update(block)
    return time.monotonic() - start, digest.hexdigest()


def _aria2c(url: str, tls: dict[str, Path], root: Path) -> tuple[float, str] | None:
    if shutil.which("aria2c") is None:
        return None
    out = root / "aria2"
    out.mkdir()
    start = time.monotonic()
    subprocess.run(
        [
            "aria2c",
            "-q",
            "--allow-overwrite=true",
            "--file-allocation=none",
            f"--ca-certificate={tls['ca']}",
            f"--certificate={tls['client_cert']}",
            f"--private-key={tls['client_key']}",
            "-d",
            str(out),
            "-o",
            "t",
            url,
        ],
        check=True,
        timeout=600,
    )
    digest = _sha256(out / "t")
    return time.monotonic() - start, digest


def _libtorrent(source: Path, root: Path) -> tuple[float, str] | None:
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import libtorrent"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    out = root / "lt"
    out.mkdir()
    # Torrent creation (hashing every piece on the seed) is done before the clock starts.
    done = subprocess.run(
        [python, "-c", LIBTORRENT_SCRIPT, str(source), str(out), "1024"],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    _fetched_s, total_s, digest = done.stdout.split()
    return float(total_s), digest


if __name__ == "__main__":
    sys.exit(main())
