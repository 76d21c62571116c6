import pytest
import yaml
from conftest import BAD_PARAMS, REPO, run, set_params
from dvc.utils.serialize import parse_yaml

from mnist_nas.errors import UserError
from mnist_nas.params import load_params


def test_repo_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "bundled"
    assert 0 < params.prepare.val_fraction < 1


@pytest.mark.parametrize(("override", "key", "value"), BAD_PARAMS)
def test_bad_params_name_key_and_value(tmp_path, override, key, value):
    set_params(tmp_path, **override)
    with pytest.raises(UserError) as err:
        load_params(tmp_path / "params.yaml")
    message = str(err.value)
    assert key in message and f"(got {value})" in message
    assert "\n" not in message


def with_line(key: str, text: str) -> str:
    """params.yaml with the line of top-level `key` replaced by `key: text`, as typed by hand."""
    lines = (REPO / "params.yaml").read_text().splitlines()
    return "\n".join(f"{key}: {text}" if line.startswith(f"{key}:") else line for line in lines)


@pytest.mark.parametrize(
    ("typed", "number"),
    [("1e-3", 0.001), ("1E-3", 0.001), ("0.001", 0.001), (".5", 0.5), ("5.", 5.0), ("2e0", 2.0)],
)
def test_numbers_read_as_dvc_reads_them(tmp_path, typed, number):
    text = with_line("lr", typed)
    (tmp_path / "params.yaml").write_text(text)
    assert parse_yaml(text, "params.yaml")["lr"] == number  # what dvc params diff / exp show see
    assert load_params(tmp_path / "params.yaml").lr == number


@pytest.mark.parametrize("typed", [".inf", "-.inf", ".nan", ".NaN", ".Inf"])
def test_non_finite_floats_are_refused(tmp_path, typed):
    (tmp_path / "params.yaml").write_text(with_line("lr", typed))
    with pytest.raises(UserError, match=r"params.yaml: lr: Input should be a finite number"):
        load_params(tmp_path / "params.yaml")


def test_duplicate_keys_are_refused(tmp_path):
    (tmp_path / "params.yaml").write_text(with_line("lr", "0.1\nlr: 0.2"))
    with pytest.raises(UserError, match="not valid YAML .*duplicate key") as err:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(err.value)


def test_missing_key_is_named(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["prepare"]["val_fraction"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=r"prepare\.val_fraction: Field required"):
        load_params(tmp_path / "params.yaml")


def test_broken_yaml_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("lr: [0.1\nseed: 1\n")
    with pytest.raises(UserError, match="not valid YAML") as err:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(err.value)


def test_stage_exits_nonzero_with_one_line_before_any_work(tmp_path):
    set_params(tmp_path, lr=-0.1)
    result = run(["python", "-m", "stages.fetch"], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: lr: Input should be greater than 0 (got -0.1)"
    ]
    assert not (tmp_path / "data").exists()
