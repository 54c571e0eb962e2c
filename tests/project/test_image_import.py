"""The real node imports an image only when containerd lacks it (toolchain/node/node.sh node_import_images): a
reset keeps containerd's root, so a fresh cluster must not import 2.2 GB again; a rebuilt image must be imported.
containerd itself is replaced by a listing: `ctr images ls` as containerd's CRI shows it (each image also named
by its id, `sha256:<config digest>`)."""

import json
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO

CONFIG = "ab" * 32
REF = "localhost/postgresql:15"

FAKE_CTR = """
ctr_() {
    if [[ "$1 $2" == "images import" ]]; then
        echo "$3" >>"$T/imported"
        printf '%s application/x sha256:new\\n' "$REF" "sha256:$CONFIG" >>"$T/listing"
    elif [[ "${3:-}" == -q ]]; then awk '{ print $1 }' "$T/listing"
    else echo "REF TYPE DIGEST"; cat "$T/listing"
    fi
}
"""


def imports(tmp_path: Path, listing: list[tuple[str, str]]) -> list[str]:
    """The archives node_import_images imports, given what containerd lists (name, manifest digest)."""
    images = tmp_path / "images"
    images.mkdir()
    manifest = json.dumps([{"Config": f"{CONFIG}.json", "RepoTags": [REF], "Layers": []}]).encode()
    with tarfile.open(images / "postgresql.tar", "w") as archive:
        member = tarfile.TarInfo("manifest.json")
        member.size = len(manifest)
        archive.addfile(member, BytesIO(manifest))
    (images / "images.txt").write_text(f"# ref tar\n{REF} postgresql.tar\n")
    (tmp_path / "listing").write_text("".join(f"{name} application/x {digest}\n" for name, digest in listing))
    script = "\n".join(
        [
            f'set -euo pipefail; . toolchain/common.sh; STATE="{tmp_path}/state"; T="{tmp_path}"; REF="{REF}"',
            f'CONFIG="{CONFIG}"; log() {{ :; }}; die() {{ echo "$*" >&2; exit 1; }}; . toolchain/node/node.sh',
            FAKE_CTR,
            f'node_import_images "{images}"',
        ]
    )
    subprocess.run(["bash", "-c", script], cwd=REPO, check=True, capture_output=True, text=True)
    imported = tmp_path / "imported"
    return [Path(line).name for line in imported.read_text().split()] if imported.exists() else []


def test_an_image_containerd_has_under_its_ref_and_its_id_is_not_imported_again(tmp_path: Path) -> None:
    assert imports(tmp_path, [(REF, "sha256:m1"), (f"sha256:{CONFIG}", "sha256:m1")]) == []


@pytest.mark.parametrize(
    "listing",
    [
        [],  # a fresh containerd
        [(REF, "sha256:m0"), ("sha256:" + "cd" * 32, "sha256:m0")],  # the ref names an older build
        [(REF, "sha256:m1")],  # the ref alone: its id unknown, so whether it is this build is unknown
    ],
)
def test_a_missing_or_rebuilt_image_is_imported(tmp_path: Path, listing: list[tuple[str, str]]) -> None:
    assert imports(tmp_path, listing) == ["postgresql.tar"]
