"""Safe files: atomic writes, stale temporaries, the run lock, writable folders, printable names."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from course_utils.errors import FolderError, RunLockedError
from course_utils.files import RunLock, atomic_file, remove_stale_temporaries, shown, writable_folder

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with atomic_file(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    with pytest.raises(KeyboardInterrupt), atomic_file(target, "w") as f:
        f.write("half of a new")
        raise KeyboardInterrupt
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no temporary left


def test_atomic_file_has_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "a.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_stale_temporaries_of_a_file_are_removed(tmp_path):
    target = tmp_path / "checkpoint.pt"
    stale = [tmp_path / ".checkpoint.pt.abc123.tmp", tmp_path / ".checkpoint.pt.zz.tmp"]
    others = [tmp_path / ".losses.csv.abc.tmp", tmp_path / "checkpoint.pt"]
    for p in stale + others:
        p.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(target)) == sorted(stale)
    assert all(p.exists() for p in others) and not any(p.exists() for p in stale)


def test_run_lock_admits_one_run_at_a_time(tmp_path):
    with RunLock(tmp_path), pytest.raises(RunLockedError, match=rf"process {os.getpid()}\) is writing to"):
        RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released: the next run may start
        pass


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from course_utils.files import RunLock
        lock = RunLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    RunLock(tmp_path).acquire().release()


def test_writable_folder_is_created_or_explained(tmp_path):
    assert writable_folder(tmp_path / "a" / "b", "the run folder").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FolderError, match="is a file, not a folder"):
        writable_folder(tmp_path / "file", "the run folder")
    with pytest.raises(FolderError, match="Cannot write to the run folder"):  # whoever runs the test
        writable_folder(tmp_path / "file" / "below", "the run folder")


@pytest.mark.skipif(ROOT_USER or os.name == "nt", reason="root may write into any folder")
def test_a_read_only_folder_is_explained(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(FolderError, match="Permission denied"):
            writable_folder(locked, "the output folder")
        with pytest.raises(FolderError, match="Permission denied"):
            writable_folder(locked / "new", "the output folder")
    finally:
        locked.chmod(0o700)


def test_names_are_shown_printable():
    assert shown("photo 1.jpg") == "photo 1.jpg"
    assert shown("two\nlines.jpg") == "two\\nlines.jpg"
    undecodable = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes in a UTF-8 file system
    assert shown(undecodable) == "caf\\udce9.jpg"
    shown(undecodable).encode("ascii")  # prints on any terminal


# ------------------------------------------------------------------------ trust boundaries (issue 19)
@pytest.mark.skipif(os.name == "nt", reason="needs POSIX links")
def test_the_run_lock_never_writes_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    with pytest.raises(FolderError, match="link or not a regular file"):
        RunLock(run).acquire()
    assert victim.read_text() == "a user's file"
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    with pytest.raises(FolderError, match="not a regular file"):
        RunLock(run).acquire()


def test_a_long_name_still_gets_a_temporary_file(tmp_path):
    target = tmp_path / ("x" * 250 + ".png")  # 254 bytes: the temporary's name must not add to it
    with atomic_file(target) as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == [target.name]


def test_errors_name_the_target_never_the_temporary(tmp_path):
    (tmp_path / "checkpoint.pt").mkdir()  # a folder where the file goes
    with pytest.raises(OSError) as caught, atomic_file(tmp_path / "checkpoint.pt") as f:
        f.write(b"data")
    assert caught.value.filename == str(tmp_path / "checkpoint.pt") and ".tmp" not in str(caught.value)
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # no temporary left
