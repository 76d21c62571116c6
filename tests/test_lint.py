from conftest import REPO, run


def test_ruff_clean():
    run(["ruff", "check", "."], REPO)
    run(["ruff", "format", "--check", "."], REPO)
