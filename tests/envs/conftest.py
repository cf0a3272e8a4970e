import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    # MuJoCo 4 appends its compiler warnings (e.g. HalfCheetah's deprecated settotalmass) to
    # MUJOCO_LOG.TXT in the working directory; keep that file out of the repository.
    monkeypatch.chdir(tmp_path)
