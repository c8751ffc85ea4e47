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
