# Sourced by the other scripts: creates or updates the project's virtualenv and puts it first on PATH.
# The virtualenv lives in .venv (git-ignored) unless DBOP_VENV says otherwise.
# pip is pinned: its version decides what an install prints (tests/project/test_install.py checks it prints
# no warnings).
venv="${DBOP_VENV:-$PWD/.venv}"
stamp="$venv/.installed-$(cat pyproject.toml scripts/venv.sh | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "[venv] installing the project and its Python dependencies into $venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip==26.3
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
