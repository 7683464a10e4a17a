"""The index manifest: what it must hold, where its files may live, and whether it is stale.

``index/manifest.json`` names the current generation folder ``index/build-…/`` and records, for
every file in it, its size and BLAKE2b digest. Everything read from it is checked here before use:
field types, and that every path it names stays inside the index folder (no ``..``, no absolute
paths, no symlinks followed out), so a damaged or hostile manifest gives one clear line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from bot.core.bm25 import VARIANTS, BM25Params
from bot.core.lru import LruMap
from bot.core.source_files import file_sha256, source_base, source_files
from bot.core.tokenizer import TOKENIZER_VERSION
from bot.errors import CorpusError

INDEX_FORMAT = 6
MANIFEST = "manifest.json"
FILES = "files.json"  # per source file: size, mtime, SHA-256 and the sources it holds
FIX = "run `python -m bot rebuild` to rebuild the index"
_GENERATION = re.compile(r"build-[0-9A-Za-z-]{1,64}")
_HEX = re.compile(r"[0-9a-f]{16,128}")
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": int,
    "tokenizer": str,
    "bm25": dict,
    "built_at": str,
    "counts": dict,
    "skipped": list,
    "generation": str,
    "sizes": dict,
    "digests": dict,
}


class IndexUnavailable(CorpusError):
    """The index cannot be used; the message says which file and how to fix it."""


class IndexMissing(IndexUnavailable):
    """There is no index yet."""


class IndexOutdated(IndexUnavailable):
    """The index was written by another version of the index format (rebuilt automatically)."""


class IndexCorrupt(IndexUnavailable):
    """A file of the index is unreadable or does not match the manifest."""


def corrupt(path: Path, why: str) -> IndexCorrupt:
    """The one-line error for a damaged index file: which file, what is wrong, the fix."""
    return IndexCorrupt(f"index file {path} is corrupt ({why}); {FIX}")


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest, its schema checked; raises IndexMissing or IndexCorrupt."""
    path = index_dir / MANIFEST
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexUnavailable(f"{index_dir} is not a folder; give --index a folder for the index")
    if not path.exists() and not path.is_symlink():
        raise IndexMissing(f"no index in {index_dir}; run `python -m bot rebuild`")
    try:
        manifest = json.loads(read_member(index_dir, MANIFEST))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise corrupt(path, f"not JSON: {exc}") from None
    if isinstance(manifest, dict) and manifest.get("format") != INDEX_FORMAT:
        raise IndexOutdated(f"the index in {index_dir} was built by another version; {FIX}")
    problem = _schema_problem(manifest)
    if problem:
        raise corrupt(path, problem)
    return manifest


def _schema_problem(manifest: Any) -> str | None:
    """What is wrong with the manifest's shape, or None."""
    if not isinstance(manifest, dict):
        return "not an index manifest"
    for key, kind in _FIELDS.items():
        if key not in manifest:
            return f"no {key!r} field"
        if not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            return f"{key!r} is not a {getattr(kind, '__name__', kind)}"
    if not _GENERATION.fullmatch(manifest["generation"]):
        return f"generation {manifest['generation'][:80]!r} is not a build folder name"
    bm25 = manifest["bm25"]
    if set(bm25) != set(BM25Params.__dataclass_fields__) or bm25.get("variant") not in VARIANTS:
        return "'bm25' does not describe a BM25 variant"
    if not all(_number(bm25[k]) for k in bm25 if k != "variant"):
        return "'bm25' parameters are not numbers"
    counts = manifest["counts"]
    if not all(_count(counts.get(k)) for k in ("sources", "passages", "vocabulary")):
        return "'counts' are not counts of sources, passages and terms"
    names = set(manifest["sizes"])
    if names != set(manifest["digests"]) or not all(_plain_name(n) for n in names):
        return "'sizes' and 'digests' do not name the same plain files"
    if not all(_count(v) for v in manifest["sizes"].values()):
        return "'sizes' are not byte counts"
    if not all(isinstance(v, str) and _HEX.fullmatch(v) for v in manifest["digests"].values()):
        return "'digests' are not hex digests"
    if "base" in manifest or "delta" in manifest:
        return _segments_problem(manifest)
    return None


def _segments_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with a delta generation's description of its base and itself, or None."""
    base, delta = manifest.get("base"), manifest.get("delta")
    if not isinstance(base, dict) or not isinstance(delta, dict):
        return "'base' and 'delta' do not describe a base and a delta"
    if not isinstance(base.get("generation"), str) or not _GENERATION.fullmatch(base["generation"]):
        return "'base' does not name a build folder"
    for part in (base, delta):
        counts = part.get("counts")
        if not isinstance(counts, dict) or not all(
            _count(counts.get(k)) for k in ("sources", "passages", "vocabulary")
        ):
            return "'base' or 'delta' counts are not counts of sources, passages and terms"
    sizes, digests = base.get("sizes"), base.get("digests")
    if not isinstance(sizes, dict) or not isinstance(digests, dict) or set(sizes) != set(digests):
        return "'base' sizes and digests do not name the same files"
    if not all(_plain_name(n) and _count(v) for n, v in sizes.items()) or not all(
        isinstance(v, str) and _HEX.fullmatch(v) for v in digests.values()
    ):
        return "'base' sizes and digests are not byte counts and hex digests"
    dropped = delta.get("dropped")
    if not isinstance(dropped, list) or not all(isinstance(d, str) for d in dropped):
        return "'delta' dropped is not a list of source files"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _plain_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}", name))


def member_path(index_dir: Path, *parts: str) -> Path:
    """``index_dir/parts…`` after checking it is a regular file or folder inside ``index_dir``.

    Each part must be a plain name and no component may be a symlink, so nothing the manifest
    says can make the index read a file outside its folder.
    """
    path = index_dir
    for part in parts:
        if not _plain_name(part) and not _GENERATION.fullmatch(part):
            raise corrupt(index_dir / MANIFEST, f"{part[:80]!r} is not a plain file name")
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise corrupt(path, "file missing") from None
        except OSError as exc:
            raise corrupt(path, exc.strerror or str(exc)) from None
        if stat.S_ISLNK(mode):
            raise corrupt(path, "a symlink; the index only reads its own files")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise corrupt(path, "not a regular file")
    return path


def open_member(index_dir: Path, *parts: str) -> int:
    """A read-only file descriptor for a file of the index (symlinks refused)."""
    path = member_path(index_dir, *parts)
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise corrupt(path, exc.strerror or str(exc)) from None


def read_member(index_dir: Path, *parts: str) -> bytes:
    """The whole content of a (small) file of the index."""
    fd = open_member(index_dir, *parts)
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise corrupt(index_dir.joinpath(*parts), exc.strerror or str(exc)) from None


def new_manifest(params: BM25Params, counts: dict[str, int], skipped: list[Any]) -> dict[str, Any]:
    """The head every new generation's manifest starts with (a full build's or a delta's)."""
    return {
        "format": INDEX_FORMAT,
        "tokenizer": TOKENIZER_VERSION,
        "bm25": params.to_dict(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "counts": counts,
        "skipped": skipped,
    }


def data_digest(data: bytes | memoryview | Any) -> str:
    """BLAKE2b (128-bit) of bytes already in memory or mapped (the same as :func:`file_digest`)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    """BLAKE2b (128-bit) of a file's content, the checksum the manifest stores."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_files(index_dir: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The source files the current generation was built from (rel path → stamp).

    For a delta generation: the base's files still in use, and the delta's, marked
    ``"segment": "delta"`` (their ``sources`` count within the delta).
    """
    if "base" not in manifest:
        return _read_files(index_dir, manifest["generation"])
    files = _read_files(index_dir, manifest["base"]["generation"])
    for rel in manifest["delta"]["dropped"]:
        files.pop(rel, None)
    delta = _read_files(index_dir, manifest["generation"])
    return files | {rel: {**entry, "segment": "delta"} for rel, entry in delta.items()}


def _read_files(index_dir: Path, gen: str) -> dict[str, dict[str, Any]]:
    """One generation's table of source files; a generation never changes, so it is parsed once
    (an archive's table lists every source id: a million of them take 0.2 s to decode)."""
    key = (str(index_dir), gen)
    table = _FILE_TABLES.get(key)
    if table is None:
        table = _parse_files(index_dir, gen)
        _FILE_TABLES[key] = table
    return dict(table)


_FILE_TABLES: LruMap[tuple[str, str], dict[str, dict[str, Any]]] = LruMap(4)


def _parse_files(index_dir: Path, gen: str) -> dict[str, dict[str, Any]]:
    path = index_dir / gen / FILES
    try:
        files = json.loads(read_member(index_dir, gen, FILES))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise corrupt(path, f"not JSON: {exc}") from None
    stamp_keys: dict[str, type | tuple[type, ...]] = {
        "size": int,
        "mtime_ns": int,
        "sha256": (str, type(None)),
        "sources": list,
    }
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and all(isinstance(v.get(k, 0.5), t) for k, t in stamp_keys.items())
        for v in files.values()
    ):
        raise corrupt(path, "not a table of source files")
    return files


def stamp(path: Path, known: dict[str, Any] | None) -> dict[str, Any]:
    """Size, mtime and content hash of a source file (hash reused when size and mtime match)."""
    st = path.stat()
    result: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
        result["sha256"] = known["sha256"]
    else:
        result["sha256"] = file_sha256(path)
    return result


def settings_problem(manifest: dict[str, Any], params: BM25Params) -> str | None:
    """Why the index cannot be updated in place (format, tokenizer, BM25), or None."""
    if manifest.get("format") != INDEX_FORMAT:
        return "it was built by another version of the index format"
    if manifest.get("tokenizer") != TOKENIZER_VERSION:
        return "the tokenizer has changed"
    if manifest.get("bm25") != params.to_dict():
        return "the BM25 settings have changed"
    return None


def changed_files(
    sources_dir: Path, recorded: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str], list[str]]:
    """Source files added, removed and changed since the index was built (relative paths)."""
    base = source_base(sources_dir)
    current = {p.relative_to(base).as_posix(): p for p in source_files(sources_dir)}
    added = sorted(set(current) - set(recorded))
    removed = sorted(set(recorded) - set(current))
    changed = sorted(
        rel
        for rel in set(current) & set(recorded)
        if stamp(current[rel], recorded[rel])["sha256"] != recorded[rel]["sha256"]
    )
    return added, removed, changed


def staleness(index_dir: Path, sources_dir: Path, params: BM25Params) -> str | None:
    """Why the index no longer matches the sources or the code, or ``None`` if it is fresh.

    The sources are listed first, so a missing sources folder is reported before anything else.
    """
    source_files(sources_dir)
    manifest = read_manifest(index_dir)
    problem = settings_problem(manifest, params)
    if problem:
        return problem
    added, removed, changed = changed_files(sources_dir, read_files(index_dir, manifest))
    parts = [
        f"{len(names)} source{'s' if len(names) != 1 else ''} {what} ({', '.join(names[:3])}"
        + (", …)" if len(names) > 3 else ")")
        for names, what in ((added, "added"), (removed, "removed"), (changed, "changed"))
        if names
    ]
    return "; ".join(parts) or None
