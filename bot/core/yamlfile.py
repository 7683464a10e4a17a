"""Read a YAML file so that any failure becomes one line naming the file (and line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """The parsed document; ``error("file:line: what is wrong")`` if it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(data, path, error)


def parse_yaml(data: bytes, path: Path, error: type[Exception]) -> Any:
    """The document in ``data``, the bytes of ``path`` (read already), or ``error`` as above."""
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise error(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
