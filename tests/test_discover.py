import os

from grader.discover import discover


def test_files_and_per_student_folders(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "old.ipynb").write_text("{}")
    (tmp_path / "bob" / "hw.ipynb").write_text("{}")
    os.utime(tmp_path / "bob" / "old.ipynb", (1, 1))
    (tmp_path / "bob" / "utils.py").write_text("")
    (tmp_path / "ann").mkdir()                      # same id as ann.ipynb: both kept, apart
    (tmp_path / "ann" / "a.ipynb").write_text("{}")
    (tmp_path / "readme.pdf").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    subs, skipped = discover(tmp_path)
    assert [(s.student, s.path.name) for s in subs] == [("ann", "a.ipynb"), ("ann~2", "ann.ipynb"),
                                                         ("bob", "hw.ipynb")]
    bob = subs[2]
    assert bob.folder == tmp_path / "bob" and "2 notebooks" in bob.note
    assert {p.name for p in skipped} == {"old.ipynb", "readme.pdf"}
