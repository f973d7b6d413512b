"""Fixtures for the system tests: they run the real `maplexp` binary (MAPLEXP_BIN, set by the
Makefile to the release or the sanitizer build) as a user or a script would."""
import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "evan_equip.json"
BLACK_TABLE = ROOT / "data" / "cube_probability.csv"


def _binary() -> str:
    path = os.environ.get("MAPLEXP_BIN", str(ROOT / "build" / "release" / "maplexp"))
    if not os.access(path, os.X_OK):
        pytest.exit(f"maplexp binary not found at {path}: run `make` first", returncode=3)
    return path


class Cli:
    def __init__(self):
        self.bin = _binary()

    def run(self, *args, input=None, timeout=120):
        """Run maplexp; returns CompletedProcess with text stdout/stderr (bytes input allowed)."""
        proc = subprocess.run([self.bin, *map(str, args)], input=input, capture_output=True, timeout=timeout,
                              cwd="/")  # not the repo root: the binary must find its data by itself
        proc.stdout_text = proc.stdout.decode("utf-8")
        proc.stderr_text = proc.stderr.decode("utf-8")
        return proc

    def json(self, *args, input=None):
        proc = self.run(*args, input=input)
        assert proc.returncode == 0, proc.stderr_text
        assert proc.stderr_text == "", proc.stderr_text
        return json.loads(proc.stdout_text)

    def fails(self, *args, input=None, contains=None):
        """The command must fail with exit 2, one line on stderr, nothing on stdout."""
        proc = self.run(*args, input=input)
        assert proc.returncode == 2, (proc.returncode, proc.stderr_text)
        assert proc.stdout == b"", proc.stdout_text[:500]
        lines = proc.stderr_text.splitlines()
        assert len(lines) == 1, proc.stderr_text
        assert lines[0].startswith("maplexp"), lines[0]
        if contains:
            assert contains in lines[0], lines[0]
        return lines[0]


@pytest.fixture(scope="session")
def cli():
    return Cli()


@pytest.fixture(scope="session")
def sample_bytes():
    return SAMPLE.read_bytes()


@pytest.fixture(scope="session")
def sample_gz(tmp_path_factory, sample_bytes):
    path = tmp_path_factory.mktemp("gz") / "evan.json.gz"
    path.write_bytes(gzip.compress(sample_bytes))
    return path
