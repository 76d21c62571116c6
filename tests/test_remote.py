"""A real DVC remote: Debian's OpenSSH server on a free loopback port, with keys made here, used
through dvc-ssh as a team would. Push and pull, the run-cache restoring every stage in another
clone, experiments moved between clones, bad remote input, and a push killed halfway."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import GIT, free_port, run, start

SSHD = Path("/usr/sbin/sshd")  # apt-get install openssh-server (.ci/run does)
pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="needs openssh-server")


def keypair(path: Path) -> Path:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], path.parent)
    return path


def known_hosts(home: Path, port: int, host_key_pub: Path) -> None:
    """What `ssh` would have written after a first connection: the host's key, for the port."""
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    kind, key = host_key_pub.read_text().split()[:2]
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1 that lets in one key; yields what a client needs."""
    root = tmp_path_factory.mktemp("sshd")
    host_key, client_key = keypair(root / "host_key"), keypair(root / "client_key")
    shutil.copy(f"{client_key}.pub", root / "authorized_keys")
    port = free_port()
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nSubsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:  # sshd run by root wants its privilege-separation folder
        Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", root / "sshd_config"],
                              stderr=(root / "sshd.log").open("w"))  # fmt: skip
    deadline = time.monotonic() + 20
    while "Server listening" not in (root / "sshd.log").read_text():
        log = (root / "sshd.log").read_text()
        assert server.poll() is None and time.monotonic() < deadline, log
        time.sleep(0.05)
    home = root / "home"  # asyncssh reads ~/.ssh/known_hosts and ~/.ssh/config from $HOME
    known_hosts(home, port, Path(f"{host_key}.pub"))
    yield {"port": port, "key": client_key, "home": home, "root": root}
    server.terminate()
    server.wait()


def dvc(args: list[str], cwd: Path, sshd: dict, check: bool = True):
    return run(["dvc", *args], cwd, check=check, env={"HOME": str(sshd["home"])})


def add_remote(repo: Path, sshd: dict, storage: Path, port: int | None = None) -> None:
    """The default remote, as the README shows it, committed for every clone to use."""
    url = f"ssh://127.0.0.1:{port or sshd['port']}{storage}"
    dvc(["remote", "add", "--force", "-d", "storage", url], repo, sshd)
    dvc(["remote", "modify", "storage", "user", os.environ.get("USER", "root")], repo, sshd)
    dvc(["remote", "modify", "storage", "keyfile", str(sshd["key"])], repo, sshd)


@pytest.fixture(scope="module")
def origin(project, sshd, tmp_path_factory):
    """The small project, committed (dvc.lock too), with an SSH remote, pushed with its
    run-cache as `make push` does it."""
    root = tmp_path_factory.mktemp("team") / "origin"
    shutil.copytree(project, root, symlinks=True)
    storage = root.parent / "storage"
    add_remote(root, sshd, storage)
    run(["git", "add", "-A"], root)
    run([*GIT, "commit", "-qm", "results, and the team's remote"], root)
    run(["python", ".ci/push_run_cache.py"], root, env={"HOME": str(sshd["home"])})  # make push
    return root


def clone(origin: Path, to: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(to)], origin.parent)
    return to


def outputs(root: Path) -> dict[str, str]:
    """Every file of the pipeline's outputs, by path, with its md5."""
    lock = run(["dvc", "ls", ".", "--recursive", "--dvc-only"], root).stdout.split()
    assert lock
    return {name: hashlib.md5((root / name).read_bytes()).hexdigest() for name in lock}


def test_pushed_outputs_pull_byte_identical_in_a_fresh_clone(origin, sshd, tmp_path):
    copy = clone(origin, tmp_path / "copy")
    assert not (copy / "models" / "best").exists()
    dvc(["pull"], copy, sshd)
    assert outputs(copy) == outputs(origin)
    repro = dvc(["repro"], copy, sshd).stdout
    assert "Running stage" not in repro and "Data and pipelines are up to date." in repro, repro


def test_the_pushed_run_cache_restores_every_stage_without_training(origin, sshd, tmp_path):
    """A clone that never had the results (no dvc.lock, as a new branch before its first run):
    `dvc repro --pull` finds each stage in the remote's run-cache and only checks it out."""
    copy = clone(origin, tmp_path / "copy")
    (copy / "dvc.lock").unlink()
    started = time.monotonic()
    repro = dvc(["repro", "--pull", "--allow-missing"], copy, sshd).stdout
    seconds = time.monotonic() - started
    assert "Running stage" not in repro, repro
    stages = run(["dvc", "stage", "list", "--name-only"], copy).stdout.split()
    for stage in stages:
        assert f"Stage '{stage}' is cached - skipping run" in repro, (stage, repro)
    assert outputs(copy) == outputs(origin)
    print(f"{len(stages)} stages restored from the remote's run-cache in {seconds:.1f} s")


def test_an_experiment_moves_between_clones_with_exp_push_and_pull(origin, sshd, tmp_path):
    mine, theirs = clone(origin, tmp_path / "mine"), clone(origin, tmp_path / "theirs")
    dvc(["pull"], mine, sshd)
    dvc(["exp", "run", "-S", "plot.dpi=72", "--name", "dpi-72"], mine, sshd)
    figures = outputs(mine)
    dvc(["exp", "push", "origin", "dpi-72"], mine, sshd)

    dvc(["exp", "pull", "origin", "dpi-72"], theirs, sshd)
    shown = dvc(["exp", "show", "--no-pager", "--csv"], theirs, sshd).stdout
    assert any(line.startswith("dpi-72,") and ",72," in line for line in shown.splitlines()), shown
    dvc(["exp", "apply", "dpi-72"], theirs, sshd)
    assert outputs(theirs) == figures  # the experiment's outputs came through the remote


BAD_REMOTES = {
    "unreachable port": ("port", "Connect call failed ('127.0.0.1', {closed})"),
    "key not authorised": ("key", "Permission denied for user"),
    "wrong host key": ("host key", "Host key is not trusted"),
}


@pytest.mark.parametrize("case", list(BAD_REMOTES))
def test_bad_remote_input_is_one_line_and_loses_nothing(case, origin, sshd, tmp_path, request):
    what, message = BAD_REMOTES[case]
    if what == "host key":
        reason = "dvc-ssh 4.3.0 does not check host keys: sshfs connects with known_hosts=None"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    copy = tmp_path / "copy"
    shutil.copytree(origin, copy, symlinks=True)
    closed = free_port()
    settings = dict(sshd)
    if what == "port":
        add_remote(copy, sshd, tmp_path / "storage", port=closed)
    elif what == "key":
        add_remote(copy, sshd, tmp_path / "storage")
        dvc(["remote", "modify", "storage", "keyfile", str(keypair(tmp_path / "stranger"))],
            copy, sshd)  # fmt: skip
    else:
        add_remote(copy, sshd, tmp_path / "storage")
        settings["home"] = tmp_path / "home"
        known_hosts(settings["home"], sshd["port"], Path(f"{keypair(tmp_path / 'other')}.pub"))
    before = outputs(copy)
    (copy / "params.yaml").write_text((copy / "params.yaml").read_text() + "\n")  # uncommitted
    for command in (["push"], ["pull"], ["status", "-c"]):
        result = dvc(command, copy, settings, check=False)
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        assert result.returncode != 0 and message.format(closed=closed) in errors[0], result.stderr
        # the cause in one line; a pull adds DVC's count of the files it could not download
        assert len(errors) == 1 or (command == ["pull"] and "failed to download" in errors[1])
        assert "Traceback" not in result.stderr and len(errors) <= 2, result.stderr
    assert outputs(copy) == before and "up to date" in run(["dvc", "status"], copy).stdout
    assert not (tmp_path / "storage").exists()


# dvc-ssh uploads each object to `.<22 random characters>.tmp` beside its final name and renames
# it there (SFTP posix-rename, atomic on the server) only once the upload is whole: dvc_ssh/spec.py.
TEMPORARY = re.compile(r"\.[A-Za-z0-9_-]{22}\.tmp")


def remote_files(storage: Path) -> tuple[list[Path], list[Path]]:
    """The remote's files: (objects under their own names, uploads left under a temporary one)."""
    found = [path for path in (storage / "files" / "md5").rglob("*") if path.is_file()]
    temporary = [path for path in found if TEMPORARY.fullmatch(path.name)]
    return [path for path in found if path not in temporary], temporary


def broken_objects(storage: Path) -> list[str]:
    """The objects under their own names whose content does not hash to that name."""
    objects, _ = remote_files(storage)
    return [str(path.relative_to(storage)) for path in objects
            if hashlib.md5(path.read_bytes()).hexdigest()
            != path.parent.name + path.name.removesuffix(".dir")]  # fmt: skip


BIG = 48 * 2**20  # an upload long enough (tenths of a second) to kill it halfway, every time


def big_file(path: Path, taken: set[str]) -> str:
    """Write BIG random bytes whose md5 starts with two characters no other object's does, so
    that its upload is the only one in its remote folder; return the md5."""
    body = np.random.default_rng(0).bytes(BIG - 8)
    hashed = hashlib.md5(body)
    for tail in range(10_000):
        md5 = hashed.copy()
        md5.update(tail.to_bytes(8, "little"))
        if md5.hexdigest()[:2] not in taken:
            path.write_bytes(body + tail.to_bytes(8, "little"))
            return md5.hexdigest()
    raise AssertionError("no free folder")


def kill_halfway_through(push: subprocess.Popen, folder: Path) -> None:
    """SIGKILL the push while less than half of the big file's upload (the only one in
    `folder`) is there: the moment is chosen by how far the upload got, not by a clock."""
    while push.poll() is None:
        if [path for path in folder.glob("*") if 0 < path.stat().st_size < BIG // 2]:
            os.killpg(push.pid, signal.SIGKILL)
            push.wait()
            return
        time.sleep(0.001)
    raise AssertionError(f"the push ended ({push.returncode}) before the big file's upload")


def test_a_push_killed_halfway_leaves_only_temporary_files_and_pushes_again(
    project, sshd, tmp_path
):
    """A SIGKILL in the middle of an upload: nothing half-written under an object's name, only
    dvc-ssh's temporary file, which docs/team.md's command removes; the next push completes the
    remote and a fresh clone pulls and reproduces nothing."""
    root = tmp_path / "origin"
    shutil.copytree(project, root, symlinks=True)
    taken = {folder.name for folder in (root / ".dvc" / "cache" / "files" / "md5").iterdir()}
    md5 = big_file(root / "data" / "big.bin", taken)
    dvc(["add", "data/big.bin"], root, sshd)
    storage = tmp_path / "storage"
    add_remote(root, sshd, storage)
    run(["git", "add", "-A"], root)
    run([*GIT, "commit", "-qm", "results, and a large file"], root)
    (storage / "files" / "md5" / md5[:2]).mkdir(parents=True)  # to watch before the push
    push = start(["dvc", "push", "-j", "1"], root, env={"HOME": str(sshd["home"])},
                 output=subprocess.DEVNULL)  # fmt: skip
    kill_halfway_through(push, storage / "files" / "md5" / md5[:2])

    objects, temporary = remote_files(storage)
    assert temporary and broken_objects(storage) == []
    assert not (storage / "files" / "md5" / md5[:2] / md5[2:]).exists()
    assert "new:" in dvc(["status", "-c"], root, sshd).stdout  # the killed push left work to do
    dvc(["push"], root, sshd)
    assert "in sync" in dvc(["status", "-c"], root, sshd).stdout
    assert broken_objects(storage) == [] and len(remote_files(storage)[0]) > len(objects)
    assert remote_files(storage)[1] == temporary  # a later push leaves the leftovers

    ssh = ["ssh", "-p", str(sshd["port"]), "-i", str(sshd["key"]), "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={sshd['home'] / '.ssh' / 'known_hosts'}",
           f"{os.environ.get('USER', 'root')}@127.0.0.1"]  # fmt: skip
    for fresh in (True, False):  # docs/team.md's command spares an upload that may be running
        if not fresh:
            os.utime(temporary[0], (time.time() - 7200,) * 2)
        run([*ssh, "find", str(storage / "files" / "md5"), "-name", "'.*.tmp'", "-mmin", "+60",
             "-delete"], root)  # fmt: skip
        assert remote_files(storage)[1] == (temporary if fresh else [])
    assert broken_objects(storage) == [] and "in sync" in dvc(["status", "-c"], root, sshd).stdout
    copy = clone(root, tmp_path / "copy")
    dvc(["pull"], copy, sshd)
    assert "Running stage" not in dvc(["repro"], copy, sshd).stdout
    assert outputs(copy) == outputs(root)


def test_an_object_truncated_under_its_own_name_is_found(origin, tmp_path):
    """What the killed push's test checks can fail: a truncated object is named, and DVC's own
    `dvc status -c` does not see it (it compares names, not contents)."""
    storage = tmp_path / "storage"
    shutil.copytree(origin.parent / "storage", storage)
    assert broken_objects(storage) == []
    victim = max(remote_files(storage)[0], key=lambda path: path.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    assert broken_objects(storage) == [str(victim.relative_to(storage))]
