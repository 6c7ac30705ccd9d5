#!/usr/bin/env bash
# Create the virtualenv and install Tympan with its test tools. Idempotent.
# System packages (FluidSynth and a General MIDI SoundFont for music rendering; Chromium and
# its driver for the web console's browser tests; PostgreSQL for the store tests) come from Debian when apt-get is available
# and we are root; everything else comes from PyPI.
set -euo pipefail
PYTHON="${1:-python3}"
VENV="${2:-.venv}"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    missing=""
    for pkg in fluidsynth fluid-soundfont-gm chromium chromium-driver postgresql; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip setuptools wheel
# torch first, pinned to the CPU build, so nothing else pulls a CUDA build.
"$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e '.[dev]'
