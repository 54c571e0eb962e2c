"""The real Pulumi CLI in a workspace of its own, with a file backend: for tests that hold the operator's
shortcuts (passphrase encryption, stacks made on disk) against what the CLI itself does."""

import os
import subprocess
from pathlib import Path

from tests.e2e.cluster import toolchain_bin


class PulumiCli:
    def __init__(self, root: Path, passphrase: str) -> None:
        self.work_dir = root / "workspace"
        self.work_dir.mkdir()
        self.backend = root / "backend"
        self.backend.mkdir()
        (self.work_dir / "Pulumi.yaml").write_text("name: database\nruntime: python\n")
        self.env = {
            **os.environ,
            "PATH": f"{toolchain_bin()}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.work_dir,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def settings(self, stack: str) -> Path:
        return self.work_dir / f"Pulumi.{stack}.yaml"
