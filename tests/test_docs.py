"""The README and docs/ stay true: the quickstart runs as written; every `seqmaxent` command in
them parses with the command line as it is (its command, options and arguments); every script
they run exists and takes the options given; every Python block compiles, and the names, imports
and keyword arguments it uses of seqmaxent exist. The two set-up commands are what CI runs."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

import seqmaxent as sm
from seqmaxent.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block, and ("shell", text) of every indented one."""
    found, fence, indented, previous = [], None, [], ""
    for line in page.read_text().splitlines() + [""]:
        if fence is not None:
            if line.startswith("```"):
                found.append((fence[0], fence[1]))
                fence = None
            else:
                fence[1] += line + "\n"
        elif line.startswith("```"):
            fence = [line[3:].strip() or "text", ""]
        elif line.startswith("    ") and (indented or not previous.strip()):
            indented.append(line[4:])
        elif indented:
            found.append(("shell", "\n".join(indented) + "\n"))
            indented = []
        previous = line
    return found


def shell_lines(page: Path) -> list[str]:
    """Command lines of the page: its shell blocks and its inline code that starts with a command,
    continuation lines joined, comments and [optional] notation dropped."""
    lines = []
    for language, text in blocks(page):
        if language in ("shell", "bash", "sh"):
            lines += text.replace("\\\n", " ").splitlines()
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S).replace("\n", " ")
    lines += re.findall(r"(?<!`)`((?:seqmaxent|python) [^`]+)`", prose)
    cleaned = []
    for line in lines:
        line = re.sub(r"\s+#.*$", "", line)
        line = re.sub(r"\[[^\]]*\]", "", line).strip()
        if line:
            cleaned.append(line)
    return cleaned


def commands(page: Path, program: str) -> list[list[str]]:
    found = []
    for line in shell_lines(page):
        for part in re.split(r"&&|\|", line):
            words = shlex.split(part.replace("$(command -v sudo)", ""))
            words = [w for w in words if not re.match(r"^[A-Z_]+=", w)]  # environment assignments
            if words and Path(words[0]).name == program:
                found.append(words)
    return found


ALL_COMMANDS = [(page.name, words) for page in PAGES for words in commands(page, "seqmaxent")]
SCRIPTS = [(page.name, words) for page in PAGES for words in commands(page, "python")]
PYTHON = [(page.name, k, text) for page in PAGES for k, (lang, text) in enumerate(blocks(page)) if lang == "python"]


def test_the_docs_have_commands_and_code():
    assert len(ALL_COMMANDS) >= 20 and len(SCRIPTS) >= 5 and len(PYTHON) >= 4


@pytest.mark.parametrize("page, words", ALL_COMMANDS, ids=[f"{p}: {' '.join(w)[:60]}" for p, w in ALL_COMMANDS])
def test_every_command_parses(page, words):
    if words[1:] in (["demo"], ["-h"], ["--help"], ["--version"]) or words[1].startswith("-"):
        return
    name, args = words[1], words[2:]
    assert name in cli.commands, f"{page}: no command {name!r} ({' '.join(words)})"
    command = cli.commands[name]
    ctx = click.Context(command, info_name=name)
    if not args:  # the command named in prose
        return
    try:
        given, extra, _ = command.make_parser(ctx).parse_args(args)
    except click.UsageError as e:
        pytest.fail(f"{page}: {' '.join(words)}: {e}")
    assert not extra, f"{page}: {' '.join(words)}: {name} takes no {extra}"
    missing = [p.name for p in command.params if p.required and given.get(p.name) in (None, ())]
    assert not missing, f"{page}: {' '.join(words)}: {name} needs {', '.join(missing)}"


@pytest.mark.parametrize("page, words", SCRIPTS, ids=[f"{p}: {' '.join(w)[:60]}" for p, w in SCRIPTS])
def test_every_script_exists_and_takes_its_options(page, words):
    if words[1] == "-m":
        target = ROOT / words[2].replace(".", "/")
        assert target.is_dir() or target.with_suffix(".py").is_file() or importlib.util.find_spec(words[2]), \
            f"{page}: python -m {words[2]}: no such module"
        return
    script = ROOT / words[1]
    assert script.is_file(), f"{page}: {' '.join(words)}: no {words[1]}"
    source = script.read_text()
    for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
        assert f'"{option}"' in source, f"{page}: {' '.join(words)}: {words[1]} has no option {option}"


def test_the_set_up_commands_are_what_ci_runs():
    setup = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()
             if line.startswith("    $(command -v sudo)")]
    assert len(setup) == 2, "the README holds exactly two set-up commands"
    assert setup[0].endswith("seqmaxent demo") and setup[1].endswith("python -m pytest")
    assert setup[1] in (ROOT / ".ci/run").read_text(), "CI must run the README's test command as written"


def names_used(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    return [(node.attr, node) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sm"]


@pytest.mark.parametrize("page, k, text", PYTHON, ids=[f"{p}#{k}" for p, k, _ in PYTHON])
def test_python_blocks_use_what_exists(page, k, text):
    tree = ast.parse(text, filename=f"{page} block {k}")
    for name, _ in names_used(tree):
        assert hasattr(sm, name), f"{page}: sm.{name} does not exist"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("seqmaxent"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                    f"{page}: from {node.module} import {alias.name}: no such name"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.value.id == "sm":
            target = getattr(sm, node.func.attr)
            parameters = inspect.signature(target).parameters
            if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
                continue
            for keyword in node.keywords:
                assert keyword.arg is None or keyword.arg in parameters, \
                    f"{page}: sm.{node.func.attr}(..., {keyword.arg}=...): no such argument"


def test_the_quickstart_runs_as_written(tmp_path):
    code = next(text for lang, text in blocks(ROOT / "README.md") if lang == "python")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr[-3000:]
    fixed = [int(p) for p in re.search(r"positions over 1 bit: \[([\d, ]+)\]", out.stdout).group(1).split(",")]
    assert fixed and all(30 <= p <= 70 for p in fixed), out.stdout  # the planted site sits at the centre
    assert (tmp_path / "quickstart.png").stat().st_size > 10_000
    assert (ROOT / "docs/figures/quickstart.png").is_file()
