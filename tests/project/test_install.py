"""Installing the project prints nothing a user has to worry about: no pip or build-backend warnings.

Each case installs this checkout (without its dependencies) into a throwaway virtualenv with the project's own
pip, as `scripts/venv.sh` (editable) and the Dockerfile (wheel) do. The build backend comes from PyPI or pip's
cache, as it does for a user."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def install(venv: Path, *args: str) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.mark.parametrize("editable", [True, False], ids=["editable", "wheel"])
def test_installing_prints_no_warnings(tmp_path: Path, editable: bool) -> None:
    venv = tmp_path / "venv"
    output = install(venv, *(["-e"] if editable else []), str(REPO))

    warnings = [line for line in output.splitlines() if "warning" in line.lower() or "deprecat" in line.lower()]
    assert warnings == [], output
    # The install is usable: the program's scripts (data, not modules) come with database_program.
    scripts = subprocess.check_output(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from importlib.resources import files; "
            "print(*sorted(p.name for p in (files('database_program') / 'scripts').iterdir()))",
        ],
        text=True,
    ).split()
    assert scripts == sorted(path.name for path in (REPO / "program" / "database_program" / "scripts").iterdir())
