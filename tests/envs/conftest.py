import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    # MuJoCo appends a running simulation's warnings to MUJOCO_LOG.TXT in the working directory
    # (make_gym_env turns the compiler's into Python warnings); keep that file out of the repository.
    monkeypatch.chdir(tmp_path)
