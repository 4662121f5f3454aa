"""Pending runs are private: kept in folders only their user can use, ingested only when
they are that user's own files in the pending format, and never lost silently."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from factories import make_result

from research_lib.errors import ResultsError
from research_lib.store import ResultsStore
from research_lib.store import db as db_module
from research_lib.store import pending as pending_module
from research_lib.store.pending import NotSavedWarning, PendingSkippedWarning
from research_lib.store.records import bundle_of

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
OTHER_UID = 54_321  # a uid no one on a test machine has


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Fallback folders under tmp_path (never the real temp or state folder)."""
    temp, state = tmp_path / "tmp" / "research-lib-pending-me", tmp_path / "state" / "pending"
    monkeypatch.setattr(pending_module, "temp_dir", lambda: temp)
    monkeypatch.setattr(pending_module, "state_dir", lambda: state)
    monkeypatch.setattr(pending_module, "legacy_dir", lambda: tmp_path / "tmp" / "shared")
    return temp, state


def unwritable(monkeypatch):
    real = db_module.open_file

    def refuse(path: str, read_only: bool):
        if not read_only:
            raise db_module.duckdb.IOException("IO Error: Cannot open file: No space left")
        return real(path, read_only)

    monkeypatch.setattr(db_module, "open_file", refuse)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ids(store: ResultsStore) -> set[str]:
    return set(ResultsStore(store.path).list(limit=None)["id"])


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_kept_run_is_in_a_private_folder_and_ingested_later(tmp_path, folders, monkeypatch):
    store = ResultsStore(tmp_path / "shared" / "r.duckdb")
    store.save(first := make_result())
    unwritable(monkeypatch)
    with pytest.warns(NotSavedWarning, match="was NOT saved"):
        kept = Path(store.save_or_keep(run := make_result()))
    assert kept == store.pending_dir / f"{run.run_id}.json"
    assert mode(store.pending_dir) == 0o700
    monkeypatch.undo()
    assert ids(store) == {first.run_id, run.run_id}
    assert not kept.exists()


def test_an_old_readable_pending_folder_of_mine_is_made_private(tmp_path, folders, monkeypatch):
    store = ResultsStore(tmp_path / "r.duckdb")
    store.save(make_result())
    store.pending_dir.mkdir(mode=0o755)
    os.chmod(store.pending_dir, 0o755)
    unwritable(monkeypatch)
    with pytest.warns(NotSavedWarning):
        kept = Path(store.save_or_keep(make_result()))
    assert kept.parent == store.pending_dir and mode(store.pending_dir) == 0o700


def test_a_folder_others_can_write_to_is_not_used(tmp_path, folders, monkeypatch):
    temp, state = folders
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ResultsStore(blocker / "r.duckdb")  # neither the store nor .pending can be made
    temp.mkdir(parents=True)
    if IS_ROOT:
        os.chown(temp, OTHER_UID, OTHER_UID)  # squatted by another user
    os.chmod(temp, 0o777)
    with pytest.warns(NotSavedWarning) as caught:
        kept = Path(store.save_or_keep(make_result()))
    assert kept.parent == state and mode(state) == 0o700
    assert "belongs to another user" in str(caught[0].message) or "others can" in str(
        caught[0].message
    )
    assert list(temp.iterdir()) == []


def test_nowhere_to_keep_prints_the_run_in_full(tmp_path, folders, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = ResultsStore(blocker / "r.duckdb")
    monkeypatch.setattr(pending_module, "temp_dir", lambda: blocker / "tmp")
    monkeypatch.setattr(pending_module, "state_dir", lambda: blocker / "state")
    with pytest.raises(ResultsError, match="the run was printed as JSON on stderr") as caught:
        store.save_or_keep(run := make_result())
    assert "\n" not in str(caught.value)
    printed = json.loads(capsys.readouterr().err)
    assert printed["run"]["row"]["id"] == run.run_id
    assert printed["run"]["trades"] == json.loads(json.dumps(bundle_of(run).to_json("x")["trades"]))
    assert "could not be saved" in printed["not_saved"] and len(printed["folders_refused"]) == 3


def plant(folder: Path, name: str, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    file.write_text(json.dumps(doc))
    return file


def test_pending_files_not_in_the_expected_shape_are_reported_not_ingested(tmp_path, folders):
    store = ResultsStore(tmp_path / "r.duckdb")
    store.save(make_result())
    before = digest(store.path)
    run = make_result()
    good = bundle_of(run).to_json(str(store.path.resolve()))
    other_store = bundle_of(make_result()).to_json(str(tmp_path / "other.duckdb"))
    wrong_name = bundle_of(make_result()).to_json(str(store.path.resolve()))
    files = [
        plant(store.pending_dir, "a.json", {**good, "format": "something else"}),
        plant(store.pending_dir, f"{other_store['row']['id']}.json", other_store),
        plant(store.pending_dir, "not-its-id.json", wrong_name),
    ]
    target = plant(tmp_path / "elsewhere", f"{run.run_id}.json", good)
    link = store.pending_dir / f"{run.run_id}.json"
    link.symlink_to(target)
    with pytest.warns(PendingSkippedWarning) as caught:
        listed = ids(store)
    reasons = sorted(str(w.message).split(": ", 1)[1] for w in caught)
    assert reasons == sorted(
        [
            "not a regular file (a link, a folder...); it was not added to the store",
            "not a research-lib pending run; it was not added to the store",
            f"it is meant for the store {tmp_path / 'other.duckdb'}; it was not added to the store",
            f"its name does not match the run it holds ({wrong_name['row']['id']}); it was not "
            "added to the store",
        ]
    )
    assert run.run_id not in listed and len(listed) == 1
    assert digest(store.path) == before
    assert all(file.exists() for file in files) and link.is_symlink()


@pytest.mark.skipif(not IS_ROOT, reason="changing a file's owner needs root")
@pytest.mark.usefixtures("folders")
def test_a_file_owned_by_someone_else_is_never_ingested(tmp_path):
    store = ResultsStore(tmp_path / "r.duckdb")
    store.save(make_result())
    before = digest(store.path)
    planted = make_result()
    doc = bundle_of(planted).to_json(str(store.path.resolve()))
    key = pending_module.store_key(store.path)
    files = [
        plant(store.pending_dir, f"{planted.run_id}.json", doc),
        plant(pending_module.legacy_dir(), f"{key}-{planted.run_id}.json", doc),
    ]
    for file in files:
        os.chown(file, OTHER_UID, OTHER_UID)
    with pytest.warns(PendingSkippedWarning, match="belongs to another user") as caught:
        listed = ids(store)
    assert len(caught) == 2 and planted.run_id not in listed
    assert digest(store.path) == before and all(file.exists() for file in files)


# -- two real users --------------------------------------------------------------------------

USER = "rl_pending_test"


@pytest.fixture(scope="module")
def second_user():
    """A second Unix user (created for these tests and removed after) and a Python it can
    run, or a skip saying why there cannot be one."""
    if not IS_ROOT or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create a second Unix user")
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        made = subprocess.run(["useradd", "--no-create-home", USER], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"useradd failed: {made.stderr.decode().strip()}")
        created = True
    python = next(
        (
            exe
            for exe in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable)
            if Path(exe).exists() and _runs_as(USER, exe)
        ),
        None,
    )
    try:
        if python is None:
            pytest.skip(f"no Python that {USER} may run")
        yield USER, python
    finally:
        if created:
            subprocess.run(["userdel", USER], capture_output=True)


def _runs_as(user: str, python: str) -> bool:
    try:
        done = subprocess.run([python, "-c", "print('ok')"], user=user, capture_output=True,
                              text=True, timeout=30, cwd="/")  # fmt: skip
    except OSError:
        return False
    return done.stdout.strip() == "ok"


def as_user(who: tuple[str, str], code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python as the other user (a subprocess with its uid)."""
    user, python = who
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "TMPDIR": str(cwd)}
    return subprocess.run(
        [python, "-c", code], user=user, group=pwd.getpwnam(user).pw_gid, cwd=cwd,
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def shared_tmp():
    """A folder under the system temp folder that both users can reach (pytest's tmp_path
    is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="rl-two-users-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_another_user_can_neither_plant_read_nor_delete_a_kept_run(
    second_user, shared_tmp, monkeypatch
):
    shared = shared_tmp / "shared"  # a folder both users can write to, like /tmp
    shared.mkdir()
    os.chmod(shared, 0o1777)
    state = shared_tmp / "state"
    store = ResultsStore(shared / "r.duckdb")
    store.save(make_result())
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(pending_module.tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setenv("XDG_STATE_HOME", str(state))

    # The other user squats the victim's fallback folder and the shared legacy one, and
    # plants a run for the victim's store in each, and next to the store.
    planted = make_result()
    doc = json.dumps(bundle_of(planted).to_json(str(store.path.resolve())))
    key = pending_module.store_key(store.path)
    uid = os.getuid()
    attack = f"""
import os, pathlib
doc = {doc!r}
for folder, name in [
    ("{shared}/research-lib-pending-{uid}", "{key}-{planted.run_id}.json"),
    ("{shared}/research-lib-pending", "{key}-{planted.run_id}.json"),
    ("{shared}/r.duckdb.pending", "{planted.run_id}.json"),
]:
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o777)
    pathlib.Path(folder, name).write_text(doc)
print("planted")
"""
    done = as_user(second_user, attack, shared)
    assert done.stdout.strip() == "planted", done.stderr
    before = digest(store.path)
    with pytest.warns(PendingSkippedWarning, match="belongs to another user") as caught:
        listed = ids(store)
    assert len(caught) == 3
    assert planted.run_id not in listed and digest(store.path) == before

    # The victim's run cannot be saved: it goes to a folder of its own, not the squatted ones.
    with monkeypatch.context() as patch, pytest.warns(NotSavedWarning) as caught:
        unwritable(patch)
        kept = Path(store.save_or_keep(mine := make_result()))
    assert kept.parent == state / "research-lib" / "pending", caught[0].message
    assert mode(kept.parent) == 0o700 and os.lstat(kept.parent).st_uid == uid
    message = str(caught[0].message)
    assert "belongs to another user" in message, message

    # The other user can neither read nor delete it.
    snoop = f"""
import pathlib
for act in (lambda p: p.read_text(), lambda p: p.unlink()):
    try:
        act(pathlib.Path("{kept}"))
        print("done")
    except PermissionError:
        print("denied")
"""
    for folder in (state, state / "research-lib"):
        os.chmod(folder, 0o755)  # even with the folders above open to everyone
    assert as_user(second_user, snoop, shared).stdout.split() == ["denied", "denied"]
    assert mine.run_id in ids(ResultsStore(store.path)) and not kept.exists()
    assert planted.run_id not in ids(store)
