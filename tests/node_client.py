"""The official ``openai`` Node client for compatibility tests, and a TLS loopback server for it.

The Node client is installed from the npm registry (``tests/node/package.json``) into a cache
folder keyed by that file, so a clean clone installs it once. Its Realtime WebSocket always
dials ``wss://``, so its tests talk to a server with a self-signed certificate made by
``openssl`` (trusted by the script's process through ``NODE_EXTRA_CA_CERTS``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["node_script", "run_node", "self_signed_certificate"]

NODE_DIR = Path(__file__).parent / "node"


def _cache_dir() -> Path:
    digest = hashlib.sha256((NODE_DIR / "package.json").read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "tympan-tests" / f"node-{digest}"


def _install() -> Path:
    """The folder holding ``node_modules`` for ``tests/node`` (installed once), or skip."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (scripts/install.sh installs them as root)")
    target = _cache_dir()
    if not (target / "node_modules" / "openai" / "package.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(NODE_DIR / "package.json", target / "package.json")
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.skip(f"npm could not install the openai Node client: {result.stderr[-500:]}")
    return target


def node_script(name: str) -> Path:
    """``tests/node/<name>`` placed beside the installed modules (ES modules resolve imports
    from the script's own folder, not from ``NODE_PATH``)."""
    script = _install() / name
    shutil.copy(NODE_DIR / name, script)
    return script


def run_node(script: Path, *args: str, trust: Path | None = None) -> list[dict[str, Any]]:
    """Run a Node script (trusting the certificate ``trust``); its stdout is one JSON per line."""
    env = {"PATH": "/usr/bin:/bin"}
    if trust is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(trust)
    result = subprocess.run(
        [shutil.which("node") or "node", str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A key and a certificate for ``127.0.0.1`` and ``localhost``, made by ``openssl``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert
