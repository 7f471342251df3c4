"""The README's configuration reference is generated from the code that reads each BOTMESH_*
setting: it must match the README, list every name production code uses, and describe each;
and the generator reads settings the ways the code does (fields, helpers, constants, argparse)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools import settings_reference as ref


def test_the_readme_block_is_the_generated_one() -> None:
    readme = ref.README.read_text()
    assert ref.current_block(readme) == ref.block(), (
        "README.md's configuration reference is stale: run .venv/bin/python "
        "tools/settings_reference.py"
    )


def test_every_botmesh_name_in_production_code_is_listed_and_described() -> None:
    listed = {s.name: s for s in ref.collect()}
    missing = sorted(set(ref.names_in_code()) - set(listed))
    assert missing == []
    assert all(s.description for s in listed.values())
    # The settings named by hand outside `_env` are there too.
    for name in ("BOTMESH_API_KEY_PEPPER", "BOTMESH_INTERNAL_TOKEN", "BOTMESH_KEYRING"):
        assert name in listed


def test_the_check_mode_fails_on_a_stale_readme(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{ref.BEGIN}\n| old |\n{ref.END}\n")
    monkeypatch.setattr(ref, "README", stale)
    assert ref.main(["--check"]) == 1
    assert ref.main([]) == 0
    assert ref.main(["--check"]) == 0
    assert ref.current_block(stale.read_text()) == ref.block()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


SETTINGS = """
    import os
    from dataclasses import dataclass

    PORT_DEFAULT = 7000


    def _env(name, default):
        return os.environ.get(f"BOTMESH_{name}", default)


    def _address(name, default_port):
        # Its port.
        return int(_env(f"{name}_PORT", str(default_port)))


    @dataclass
    class Settings:
        # How loud the logs are.
        log_level: str
        # The widget service:
        widget: int
        # A secret; random when unset.
        secret: str


    def load_settings():
        secret = os.environ.get("BOTMESH_SECRET") or "random"
        return Settings(
            log_level=_env("LOG_LEVEL", "INFO"),
            widget=_address("WIDGET", PORT_DEFAULT),
            secret=secret,
        )
"""


def test_fields_helpers_and_variables_give_names_defaults_and_descriptions(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path, {"mesh/settings.py": SETTINGS})
    found = {s.name: s for s in ref.collect(root)}
    assert found["BOTMESH_LOG_LEVEL"] == ref.Setting(
        "BOTMESH_LOG_LEVEL", "INFO", "How loud the logs are.", "mesh/settings.py"
    )
    assert found["BOTMESH_WIDGET_PORT"].default == "7000"
    assert found["BOTMESH_WIDGET_PORT"].description == "The widget service: Its port."
    assert found["BOTMESH_SECRET"].default is None
    assert found["BOTMESH_SECRET"].description == "A secret; random when unset."
    assert "| `BOTMESH_SECRET` | (none) | A secret; random when unset. |" in ref.block(root)


def test_constants_imported_defaults_and_argparse_help_are_followed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "analysis_svc/limits.py": "DEFAULT_LIMIT = 12\n",
            "analysis_svc/server.py": """
                import os
                from analysis_svc.limits import DEFAULT_LIMIT

                # Jobs per key.
                LIMIT_ENV = "BOTMESH_JOBS_PER_KEY"


                def limit():
                    return int(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT))
            """,
            "exchange_sim/__main__.py": """
                import argparse, os
                p = argparse.ArgumentParser()
                p.add_argument("--seed", default=os.environ.get("BOTMESH_SIM_SEED", "1"),
                               help="the price paths' seed")
            """,
        },
    )
    found = {s.name: s for s in ref.collect(root)}
    assert (found["BOTMESH_JOBS_PER_KEY"].default, found["BOTMESH_JOBS_PER_KEY"].description) == (
        "12",
        "Jobs per key.",
    )
    assert found["BOTMESH_SIM_SEED"].description == "the price paths' seed"


def test_a_setting_without_a_description_is_an_error(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"cli/main.py": 'import os\nkey = os.environ.get("BOTMESH_UNEXPLAINED", "x")\n'},
    )
    with pytest.raises(ref.SettingsError, match="BOTMESH_UNEXPLAINED"):
        ref.collect(root)


def test_a_name_in_code_that_no_read_accounts_for_is_an_error(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "mesh/settings.py": SETTINGS,
            "trading_svc/runner.py": '"""Reads BOTMESH_FORGOTTEN somewhere we cannot see."""\n',
        },
    )
    with pytest.raises(ref.SettingsError, match="BOTMESH_FORGOTTEN"):
        ref.block(root)


def test_a_readme_without_markers_is_an_error() -> None:
    with pytest.raises(ref.SettingsError, match="settings:begin"):
        ref.current_block("# botmesh\n")
