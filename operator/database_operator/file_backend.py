"""Pulumi's file (`file://`) state backend on disk: which stacks it holds, and creating an empty one.

In this backend `pulumi stack select` only checks that a file exists and `pulumi stack init` writes one small
file, yet each is a CLI run: about 0.3 CPU-seconds to start the CLI, plus, for `stack init`, a 1,000,000-round
key derivation to check the stack's salt. For the stacks the operator creates, that was a third of the cost of a
new Database. Only Pulumi's project layout (`.pulumi/meta.yaml` says `version: 1`, what the CLI lays out in a new
backend) is handled here; a backend in any other layout, or of another kind, is left to the CLI.
tests/operator/test_file_backend.py holds these files against what the real CLI writes and reads.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

META = Path(".pulumi") / "meta.yaml"
STACKS = Path(".pulumi") / "stacks"
PROJECT_LAYOUT_VERSION = 1
# A stack's checkpoint, as the backend may have written it (plain, gzip or zstd).
CHECKPOINT_SUFFIXES = (".json", ".json.gz", ".json.zst")
# The backend's fixed organization: stacks are `organization/<project>/<stack>`.
ORGANIZATION = "organization"
LEGACY_LAYOUT_VARIABLE = "PULUMI_DIY_BACKEND_LEGACY_LAYOUT"


def directory(backend_url: str) -> Path | None:
    """The directory of a file:// backend URL; None for any other kind of backend."""
    return Path(backend_url.removeprefix("file://")) if backend_url.startswith("file://") else None


@dataclass(frozen=True)
class FileBackend:
    root: Path

    @classmethod
    def of(cls, backend_url: str) -> "FileBackend | None":
        """The file backend at this URL if it is laid out by project; None otherwise."""
        root = directory(backend_url)
        if root is None:
            return None
        backend = cls(root)
        return backend if backend.laid_out_by_project else None

    @classmethod
    def prepare(cls, backend_url: str) -> None:
        """Make the directory of a file backend; a new one (no `.pulumi` yet) is laid out by project, as the CLI
        lays out every new backend unless told to use its legacy layout."""
        root = directory(backend_url)
        if root is None:
            return
        root.mkdir(parents=True, exist_ok=True)
        if (root / META.parent).exists() or os.environ.get(LEGACY_LAYOUT_VARIABLE, "").lower() in ("1", "true"):
            return
        (root / META.parent).mkdir(exist_ok=True)
        _write_new(root / META, yaml.safe_dump({"version": PROJECT_LAYOUT_VERSION}))

    @property
    def laid_out_by_project(self) -> bool:
        try:
            meta = yaml.safe_load((self.root / META).read_text())
        except (OSError, yaml.YAMLError):
            return False
        return isinstance(meta, dict) and meta.get("version") == PROJECT_LAYOUT_VERSION

    def has_stack(self, project: str, stack: str) -> bool:
        folder = self.root / STACKS / project
        return any((folder / f"{stack}{suffix}").exists() for suffix in CHECKPOINT_SUFFIXES)

    def create_stack(self, project: str, stack: str) -> bool:
        """Write a new stack's empty checkpoint, the one `stack init` writes; False if the stack exists."""
        if self.has_stack(project, stack):
            return False
        path = self.root / STACKS / project / f"{stack}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {"version": 0, "checkpoint": {"stack": f"{ORGANIZATION}/{project}/{stack}"}}
        return _write_new(path, json.dumps(checkpoint, separators=(",", ":")))


def _write_new(path: Path, text: str) -> bool:
    """Create a file with this text; False if it exists. Written aside, then linked into place: never a
    half-written file, and never one over another."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        file.write(text)
    aside = Path(file.name)
    try:
        os.link(aside, path)
    except FileExistsError:
        return False
    finally:
        aside.unlink()
    return True
