# Sourced by the other scripts: creates or updates the project's virtualenv and puts it first on PATH.
# The virtualenv lives in .venv (git-ignored) unless DBOP_VENV says otherwise.
venv="${DBOP_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
