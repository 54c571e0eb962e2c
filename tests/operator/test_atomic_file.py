"""Files the operator writes are replaced whole."""

from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from database_operator import atomic_file
from database_operator.atomic_file import write_atomically


def test_a_write_replaces_the_file_whole_and_private(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("old")
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["Pulumi.s.yaml"]


def test_a_write_that_fails_midway_leaves_the_previous_version(tmp_path: Path, mocker: MockerFixture) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("old")
    mocker.patch.object(atomic_file.os, "fsync", side_effect=OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["Pulumi.s.yaml"]  # no temporary left behind
