"""Bad configuration stops `mecha run` with a clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.integration.mecha_process import run_to_exit


def _run_with(tmp_path: Path, yaml_text: str, *extra: str) -> tuple[int, str]:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "broken.yaml").write_text(yaml_text)
    result = run_to_exit(
        [
            "run",
            "--app-id",
            "orders",
            "--resources-path",
            str(folder),
            "--data-dir",
            str(tmp_path / "data"),
            "--dapr-http-port",
            "0",
            "--dapr-grpc-port",
            "0",
            *extra,
        ]
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    return result.returncode, output


def test_invalid_yaml(tmp_path: Path) -> None:
    code, output = _run_with(tmp_path, "apiVersion: dapr.io/v1alpha1\nkind: Component\n  bad: [\n")
    assert code != 0
    assert "broken.yaml" in output


def test_missing_field_is_named(tmp_path: Path) -> None:
    code, output = _run_with(
        tmp_path,
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
        "spec:\n  version: v1\n",
    )
    assert code != 0
    assert "broken.yaml (document 1)" in output
    assert "spec.type" in output


def test_unknown_type_lists_the_known_ones(tmp_path: Path) -> None:
    code, output = _run_with(
        tmp_path,
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
        "spec:\n  type: state.nope\n  version: v1\n",
    )
    assert code != 0
    assert "state.nope" in output
    assert "state.redis" in output


def test_missing_resources_folder(tmp_path: Path) -> None:
    result = run_to_exit(
        [
            "run",
            "--app-id",
            "a",
            "--resources-path",
            str(tmp_path / "missing"),
            "--dapr-http-port",
            "0",
        ]
    )
    assert result.returncode != 0
    assert "missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flag_value(tmp_path: Path) -> None:
    result = run_to_exit(["run", "--app-id", "a", "--max-body-size", "lots"])
    assert result.returncode == 2
    assert "max-body-size" in result.stderr


def test_app_id_is_required() -> None:
    result = run_to_exit(["run"])
    assert result.returncode == 2
    assert "--app-id is required" in result.stderr
