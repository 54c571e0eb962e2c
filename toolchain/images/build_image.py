"""Build one image of toolchain/images.sh from its recipe (a JSON file in this directory).

The root filesystem comes from Debian packages through mmdebstrap; documentation (except copyright files),
manual pages, message catalogues and apt's caches are removed; the result is written as a docker-archive tar
(manifest.json, the image config, one layer), which `ctr -n k8s.io images import` reads. No daemon, no registry.

Usage: build_image.py ref RECIPE                  print the image's reference
       build_image.py build RECIPE SUITE OUTDIR   write OUTDIR/<name>.tar and OUTDIR/<name>.packages
"""

import glob
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Removed from every image: nothing in a container reads them. Copyright files stay (see trim()).
TRIMMED = [
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/i18n/*",  # locale sources (for locale-gen); the images use C.UTF-8, which glibc has built in
    "usr/share/lintian/*",
    "var/cache/apt/*",
    "var/lib/apt/lists/*",
    "var/cache/debconf/*-old",
    "var/log/*.log",
    "var/log/apt/*",
    "dev/*",  # the runtime provides /dev
    "etc/resolv.conf",  # copied from this machine by mmdebstrap; the runtime mounts the pod's own
    "etc/hostname",
]


def load_recipe(path: Path) -> dict[str, Any]:
    recipe: dict[str, Any] = json.loads(path.read_text())
    return recipe


def user_hook(users: list[dict[str, Any]]) -> str:
    """An mmdebstrap essential-hook that creates the service users with fixed ids before their packages are
    installed; the packages' `adduser --system` then finds them and keeps them. (The pods run as these ids.)"""
    lines = []
    for user in users:
        name, uid = user["name"], user["id"]
        lines.append(f'echo {shlex.quote(f"{name}:x:{uid}:")} >>"$1/etc/group"')
        entry = f"{name}:x:{uid}:{uid}:{name}:{user['home']}:{user['shell']}"
        lines.append(f'echo {shlex.quote(entry)} >>"$1/etc/passwd"')
    return " && ".join(lines)


def extract_hook(packages: list[str]) -> str:
    """An mmdebstrap extract-hook that downloads packages and extracts them without their dependencies: a
    program whose package depends on service-management tools it does not run (adduser, an init system)."""
    names = " ".join(shlex.quote(package) for package in packages)
    return (
        'cd "$1/var/cache/apt/archives" && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get download '
        f'{names} && for package in {names}; do dpkg-deb --extract "$package"_*.deb "$1"; done'
    )


def mmdebstrap(recipe: dict[str, Any], suite: str, root: Path) -> None:
    command = [
        "mmdebstrap",
        "--mode=root",
        f"--variant={recipe['variant']}",
        f"--include={','.join(recipe['packages'])}",
        # Keep the downloaded packages: the extract variant has no dpkg database, so versions are read from them.
        "--skip=cleanup/apt/cache",
    ]
    if recipe.get("users"):
        command.append(f"--essential-hook={user_hook(recipe['users'])}")
    if recipe.get("withoutDependencies"):
        command.append(f"--extract-hook={extract_hook(recipe['withoutDependencies'])}")
    subprocess.run([*command, suite, str(root)], check=True)


def package_versions(root: Path) -> dict[str, str]:
    """Package name -> version, from the dpkg database, or from the downloaded packages (extract variant)."""
    status = root / "var/lib/dpkg/status"
    if status.exists() and status.stat().st_size > 0:
        listing = subprocess.run(
            ["dpkg-query", f"--admindir={root / 'var/lib/dpkg'}", "-W", "-f", "${Package} ${Version}\n"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    else:
        debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
        listing = "".join(
            subprocess.run(
                ["dpkg-deb", "-W", "--showformat", "${Package} ${Version}\n", str(deb)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for deb in debs
        )
    return dict(line.split(" ", 1) for line in listing.splitlines() if line)


def upstream_version(debian_version: str) -> str:
    """1:10.11.19-0+deb12u1 -> 10.11.19 (no epoch, no Debian revision)."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def check_tag(recipe: dict[str, Any], versions: dict[str, str]) -> None:
    """The tag must be the packaged version (or its major/minor prefix), so a name never claims another one."""
    tag = recipe["ref"].rsplit(":", 1)[1]
    package = recipe["versionPackage"]
    upstream = upstream_version(versions[package])
    if upstream != tag and not upstream.startswith(f"{tag}."):
        raise SystemExit(
            f"{recipe['ref']}: {package} is {versions[package]} now; update the tag in the recipe"
            " (a new key, so the images are rebuilt)"
        )


def trim(root: Path, extra: list[str]) -> None:
    if mounts_under(root):  # mmdebstrap unmounts on success; never delete through a mount of this machine's /dev
        raise SystemExit(f"{root}: still mounted: {', '.join(mounts_under(root))}")
    for pattern in [*TRIMMED, *extra]:
        for path in glob.glob(str(root / pattern)):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    for package_docs in (root / "usr/share/doc").glob("*"):
        if package_docs.is_symlink() or not package_docs.is_dir():
            continue
        for doc in package_docs.iterdir():
            if doc.name == "copyright":
                continue
            if doc.is_dir() and not doc.is_symlink():
                shutil.rmtree(doc)
            else:
                doc.unlink()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(recipe: dict[str, Any], diff_id: str, versions: dict[str, str], suite: str) -> dict[str, Any]:
    config = dict(recipe["config"])
    env = list(config.get("Env", []))
    if not any(variable.startswith("PATH=") for variable in env):
        env.insert(0, DEFAULT_PATH)
    config["Env"] = env
    package = recipe["versionPackage"]
    config["Labels"] = {
        "org.opencontainers.image.title": recipe["ref"],
        "org.opencontainers.image.description": f"{recipe['description']} ({package} {versions[package]})",
        "org.opencontainers.image.version": recipe["ref"].rsplit(":", 1)[1],
    }
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    packages = [*recipe["packages"], *recipe.get("withoutDependencies", [])]
    architecture = subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [
            {
                "created": created,
                "created_by": f"mmdebstrap --variant={recipe['variant']} {suite} {' '.join(packages)}",
            }
        ],
    }


def write_archive(out: Path, ref: str, config: dict[str, Any], layer: Path, diff_id: str) -> None:
    config_bytes = json.dumps(config, indent=2).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    layer_name = f"{diff_id}/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()
    staging = out.with_suffix(".tar.tmp")
    with tarfile.open(staging, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("manifest.json", manifest), (config_name, config_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(data))
        archive.add(layer, arcname=layer_name)
    staging.rename(out)


def mounts_under(directory: Path) -> list[str]:
    """Mount points inside `directory`, deepest first."""
    prefix = f"{directory.resolve()}/"
    with open("/proc/self/mountinfo") as mountinfo:
        mount_points = [line.split()[4] for line in mountinfo]
    return sorted((point for point in mount_points if point.startswith(prefix)), key=len, reverse=True)


def remove_work_directory(work: Path) -> None:
    """Remove a scratch directory, also one left by a killed mmdebstrap: its chroot may still have this
    machine's /dev, /proc and /sys mounted, which must be unmounted, never emptied."""
    for mount_point in mounts_under(work):
        subprocess.run(["umount", "--lazy", mount_point], check=True)
    subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=True)


def build(recipe_path: Path, suite: str, outdir: Path) -> None:
    recipe = load_recipe(recipe_path)
    name = recipe_path.stem
    work = outdir / f".work-{name}"
    remove_work_directory(work)
    work.mkdir(parents=True)
    root = work / "root"
    mmdebstrap(recipe, suite, root)
    versions = package_versions(root)
    check_tag(recipe, versions)
    trim(root, recipe.get("remove", []))
    for step in recipe.get("customize", []):  # {"why": ..., "run": shell command, the root filesystem is $1}
        subprocess.run(["sh", "-c", step["run"], "customize", str(root)], check=True)
    layer = work / "layer.tar"
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "--sort=name", "-cf", str(layer), "."], check=True)
    diff_id = sha256_of(layer)
    config = image_config(recipe, diff_id, versions, suite)
    (outdir / f"{name}.packages").write_text("".join(f"{p} {v}\n" for p, v in sorted(versions.items())))
    write_archive(outdir / f"{name}.tar", recipe["ref"], config, layer, diff_id)  # last: the tar means "built"
    remove_work_directory(work)


def main(argv: list[str]) -> None:
    match argv:
        case ["ref", recipe]:
            print(load_recipe(Path(recipe))["ref"])
        case ["build", recipe, suite, outdir]:
            build(Path(recipe), suite, Path(outdir))
        case _:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
