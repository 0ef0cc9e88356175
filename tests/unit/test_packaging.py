"""Packaging guard (DESIGN.md §3): `hotline` is one PEP 420 package spread over five folders.

The `packages` list in pyproject.toml is kept by hand, so these tests fail when a code folder is
missing from it, when one of the folders grows an `__init__.py` (a regular top-level `queue`
package would shadow the standard library's), or when the installed entry points stop working.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
ROOTS = {
    "hotline": "src/hotline",
    "hotline.ivr": "ivr",
    "hotline.agents": "agents",
    "hotline.queue": "queue",
    "hotline.recordings": "recordings",
}
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def _code_packages(package: str, folder: Path) -> set[str]:
    """Dotted names of every folder under `folder` (itself included) holding a .py file."""
    found = set()
    for source in folder.rglob("*.py"):
        if "__pycache__" in source.parts:
            continue
        relative = source.parent.relative_to(folder).parts
        found.add(".".join((package, *relative)))
    return found


def _folder_of(package: str) -> Path:
    """Where setuptools takes `package` from: the longest matching package-dir prefix."""
    root = max((name for name in PACKAGE_DIR if package == name or package.startswith(name + ".")),
               key=len)
    rest = package[len(root):].lstrip(".").split(".") if package != root else []
    return REPO.joinpath(PACKAGE_DIR[root], *rest)


def _is_stdlib(path: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(STDLIB)


# (a) pyproject.toml lists every code folder -----------------------------------------------

def test_package_dir_maps_the_five_code_roots() -> None:
    assert PACKAGE_DIR == ROOTS


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_each_root_folder_exists_and_is_listed(package: str) -> None:
    assert (REPO / ROOTS[package]).is_dir()
    assert package in PACKAGES


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_code_folder_is_listed_in_packages(package: str) -> None:
    missing = _code_packages(package, REPO / ROOTS[package]) - set(PACKAGES)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_every_listed_package_is_an_existing_folder() -> None:
    absent = [name for name in PACKAGES if not _folder_of(name).is_dir()]
    assert not absent, f"listed in pyproject.toml but no such folder: {absent}"


def test_packages_are_listed_once() -> None:
    assert len(PACKAGES) == len(set(PACKAGES))


# (b) PEP 420: no __init__.py, and no `asterisk` package of ours ----------------------------

@pytest.mark.parametrize("folder", sorted(ROOTS.values()))
def test_no_init_file_in_a_code_root(folder: str) -> None:
    assert not (REPO / folder / "__init__.py").exists()


def test_we_ship_no_asterisk_import_package() -> None:
    # pyst2 owns the import name `asterisk` (`asterisk-conf/` is data and not importable).
    for place in (REPO, REPO / "src"):
        assert not (place / "asterisk").exists() and not (place / "asterisk.py").exists()
    ours = [name for name in [*PACKAGES, *PACKAGE_DIR] if name.split(".")[0] == "asterisk"]
    assert not ours


def test_asterisk_import_is_pyst2() -> None:
    import asterisk.agi

    installed = Path(asterisk.agi.__file__).resolve().parent.parent
    assert installed.name in {"site-packages", "dist-packages"}, asterisk.agi.__file__


# (c) the standard library's queue is never shadowed ----------------------------------------

def test_queue_is_the_standard_library_in_this_process() -> None:
    import _queue
    import queue

    assert queue.__file__ is not None and _is_stdlib(queue.__file__)
    assert queue.SimpleQueue is _queue.SimpleQueue


def test_queue_is_the_standard_library_when_run_from_the_repo_root() -> None:
    # The repo root holds a `queue/` folder and comes first on sys.path with `python -c`.
    assert (REPO / "queue").is_dir()
    result = subprocess.run(
        [sys.executable, "-c",
         "import queue, concurrent.futures, logging.handlers; print(queue.__file__)"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed != "None" and _is_stdlib(printed), printed


# (d) hotline.* resolve to the repo's folders ------------------------------------------------

@pytest.mark.parametrize("package", sorted(ROOTS))
def test_subpackage_imports_from_its_folder(package: str) -> None:
    module = importlib.import_module(package)
    assert getattr(module, "__file__", None) is None  # a namespace package: no __init__.py
    folders = {Path(entry).resolve() for entry in module.__path__ if Path(entry).is_dir()}
    assert (REPO / ROOTS[package]).resolve() in folders


def test_hotline_modules_come_from_src() -> None:
    import hotline.config

    assert Path(hotline.config.__file__).resolve() == REPO / "src" / "hotline" / "config.py"


# Entry points -------------------------------------------------------------------------------

def _run_version(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)


def test_python_m_hotline_version() -> None:
    result = _run_version(sys.executable, "-m", "hotline", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hotline", version("hotline")]


def test_console_script_version() -> None:
    script = Path(sys.executable).parent / "hotline"
    assert script.is_file(), f"console script not installed at {script}"
    result = _run_version(str(script), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hotline", version("hotline")]
