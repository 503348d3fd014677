"""The results store: a Zarr (format 3) directory written chunk by chunk.

Layout (see docs/store.md):

    STORE/zarr.json           group; attrs = provenance + the run's shape
    STORE/rows                (condition, replicate, field) float64, one zarr
                              chunk = (1 condition, chunk_size replicates, every
                              field): one file per computed chunk
    STORE/field               (field,) the field names
    STORE/<coordinate>        (condition,) grid parameter values
    STORE/condition, replicate  index coordinates
    STORE/chunk_done          (condition, chunk) int8, 1 once a chunk is written

One array, not one per field: a chunk is then one compressed file (1-2 ms for
500 replicates x 144 fields) instead of 144 (about 60 ms, which capped a run
near 6,000 replicates/s).  Readers (open_results, read_fields) give one
variable per field back, int fields as int32.

Crash safety rests on two facts: zarr's LocalStore writes every file atomically
(temporary file + rename), and a chunk's `chunk_done` flag is written only after
its rows are.  A process killed at any point leaves each chunk either flagged
and complete, or unflagged (possibly with its rows written), which a resumed
run recomputes.  Data are not fsync'ed: the guarantee covers the death
of the process, not the loss of the machine's page cache (power cut).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np

from simkit import __version__
from simkit.errors import InputError

FORMAT = 2                      # bump when the layout changes incompatibly (2: one `rows` array)
MARKER = "simkit_store"         # root attr holding FORMAT; absent = not ours
RESERVED_NAMES = ("condition", "replicate", "chunk", "chunk_done", "rows", "field")
# Root attrs written by simkit; a job's own attrs may not use these keys.
RESERVED_ATTRS = (MARKER, "scenario_hash", "fields", "int_fields", "chunk_size",
                  "n_conditions", "n_replicates", "n_chunks", "grid_dims",
                  "condition_coords", "field_attrs", "simkit_version", "created",
                  "updated", "complete", "history")


def now() -> str:
    """UTC time stamp of the store's attrs and history entries."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _compressors():
    import zarr
    # Byte shuffle + lz4: about twice zstd's speed on float64 columns at a
    # similar ratio; the main process compresses every chunk, so speed matters.
    # crc32c last: a chunk file truncated or damaged on disk fails to decode
    # instead of reading as other numbers (verify_chunks recomputes it)
    return (zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), zarr.codecs.Crc32cCodec())


def n_chunks_of(n_replicates: int, chunk_size: int) -> int:
    return -(-n_replicates // chunk_size)


def chunk_bounds(chunk: int, chunk_size: int, n_replicates: int) -> tuple[int, int]:
    start = chunk * chunk_size
    return start, min(start + chunk_size, n_replicates)


def _coord_array(name, values, n_conditions):
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n_conditions:
        raise ValueError(f"condition_coords[{name!r}] must be a list of length "
                         f"n_conditions={n_conditions}, got shape {arr.shape}")
    if arr.dtype.kind not in "biufU":
        raise ValueError(f"condition_coords[{name!r}]: values must be all numbers, "
                         f"all booleans or all strings, got dtype {arr.dtype}")
    return arr


def spec_of(job) -> dict:
    """The store-defining part of a job, as JSON-able values (what resume compares)."""
    fields = [str(f) for f in job.fields]
    if len(fields) == 0 or len(set(fields)) != len(fields):
        raise ValueError(f"fields must be non-empty and unique, got {fields}")
    int_fields = sorted(str(f) for f in job.int_fields)
    if not set(int_fields) <= set(fields):
        raise ValueError(f"int_fields {sorted(set(int_fields) - set(fields))} are not in fields")
    for n in (int(job.n_conditions), int(job.n_replicates), int(job.chunk_size)):
        if n < 1:
            raise ValueError("n_conditions, n_replicates and chunk_size must be >= 1, got "
                             f"{job.n_conditions}, {job.n_replicates}, {job.chunk_size}")
    coords = {}
    for name, values in job.condition_coords.items():
        coords[str(name)] = _coord_array(name, values, job.n_conditions).tolist()
    clash = (set(coords) & set(fields)) | ((set(coords) | set(fields)) & set(RESERVED_NAMES))
    if clash:
        raise ValueError(f"names used twice or reserved: {sorted(clash)}")
    grid_dims = None
    if job.grid_dims is not None:
        grid_dims = [str(d) for d in job.grid_dims]
        missing = [d for d in grid_dims if d not in coords]
        if missing or not grid_dims or len(set(grid_dims)) != len(grid_dims):
            raise ValueError(f"grid_dims {grid_dims} must be distinct names of condition_coords")
        _grid_shape(coords, grid_dims, job.n_conditions)  # raises if not a product
    field_attrs = {str(k): dict(v) for k, v in (job.field_attrs or {}).items()}
    unknown = set(field_attrs) - set(fields)
    if unknown:
        raise ValueError(f"field_attrs for unknown fields {sorted(unknown)}")
    attrs = dict(job.attrs)
    bad = set(attrs) & set(RESERVED_ATTRS)
    if bad:
        raise ValueError(f"job.attrs may not use the reserved keys {sorted(bad)}")
    try:
        json.dumps(attrs, allow_nan=False)
        json.dumps(field_attrs, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"job.attrs and field_attrs must be JSON-serialisable: {e}") from None
    return {
        "scenario_hash": str(job.scenario_hash),
        "fields": fields,
        "int_fields": int_fields,
        "n_conditions": int(job.n_conditions),
        "n_replicates": int(job.n_replicates),
        "condition_coords": coords,
        "grid_dims": grid_dims,
        "field_attrs": field_attrs,
        "attrs": attrs,
    }


def _grid_shape(coords: dict, grid_dims: list, n_conditions: int) -> tuple[list, tuple]:
    """Levels of each grid dim (first-appearance order) and the grid shape.

    Checks that condition c carries, for every dim, the level at position
    unravel_index(c, shape): the conditions are the C-order product.
    """
    levels = []
    for d in grid_dims:
        seen = []
        for v in coords[d]:
            if v not in seen:
                seen.append(v)
        levels.append(seen)
    shape = tuple(len(lv) for lv in levels)
    ok = math.prod(shape) == n_conditions
    if ok:
        for c in range(n_conditions):
            idx = np.unravel_index(c, shape)
            if any(coords[d][c] != levels[i][idx[i]] for i, d in enumerate(grid_dims)):
                ok = False
                break
    if not ok:
        raise ValueError(f"condition_coords are not the C-order product of grid_dims "
                         f"{grid_dims} (levels {levels})")
    return levels, shape


# ----------------------------------------------------------------------------
# Recognising stores
# ----------------------------------------------------------------------------

def _read_root_attrs(path: Path) -> dict | None:
    """The root group's attrs if `path` is a simkit store, else None."""
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    if doc.get("node_type") != "group" or not isinstance(attrs, dict) or MARKER not in attrs:
        return None
    return attrs


def _not_a_store(path: Path, where: str) -> InputError:
    return InputError(where, f"{path} exists but is not a simkit results store; "
                             "choose another path or delete it")


def _check_format(attrs: dict, path: Path, where: str):
    if attrs.get(MARKER) != FORMAT:
        raise InputError(where, f"{path} is a simkit store of format {attrs.get(MARKER)}, "
                                f"this simkit (v{__version__}) reads format {FORMAT}; "
                                "rerun its scenario into a new store (results are a pure "
                                "function of scenario and seed)")


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------

class RunStore:
    """An open store being written by one run (holds the store's lock).

    Only the process that owns this object writes to the store; workers return
    their rows to it.
    """

    def __init__(self, path: Path, spec: dict, lock_fd):
        import zarr
        self.path = path
        self.spec = spec
        self._lock_fd = lock_fd
        # not the consolidated metadata: the writer reads what is on disk
        self.group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        attrs = dict(self.group.attrs)
        self.chunk_size = int(attrs["chunk_size"])
        self.n_chunks = int(attrs["n_chunks"])
        self.fields = list(attrs["fields"])
        self.int_fields = set(attrs["int_fields"])
        self._int_cols = [i for i, f in enumerate(self.fields) if f in self.int_fields]
        self._rows = self.group["rows"]
        self._done_arr = self.group["chunk_done"]
        try:
            self.done = np.asarray(self._done_arr[...], dtype=np.int8)
            flags_ok = True
        except Exception:  # noqa: BLE001 - damaged flags: fall back on the rows' own checksums
            self.done = np.ones(self._done_arr.shape, dtype=np.int8)
            flags_ok = False
        self.n_computed = 0
        # chunks flagged done whose file is missing or fails its checksum: recomputed
        self.damaged = self.verify_chunks() if self.done.any() else []
        if not flags_ok:
            self._done_arr[...] = self.done
        self.history_entry = None  # the runner's record of this run, saved on close
        # Provenance that changed since the store was created (e.g. a resume after
        # upgrading a package); recorded in the run's history entry.
        self.changed_attrs = {k: v for k, v in spec["attrs"].items() if attrs.get(k) != v}

    def verify_chunks(self) -> list:
        """Unflag every chunk flagged done whose rows file is missing, truncated or
        damaged (crc32c); returns their (condition, chunk).  Reads the whole store
        once (0.6 s for a 169 MB store: benchmarks/bench_store_verify.py), only when a
        run reopens a store."""
        bad = []
        root = Path(self.path) / "rows"
        enc = self._rows.metadata.encode_chunk_key
        crc = any(type(c).__name__ == "Crc32cCodec" for c in self._rows.metadata.codecs)
        for c, j in zip(*np.nonzero(self.done)):
            c, j = int(c), int(j)
            ok = (root / enc((c, j, 0))).is_file()
            if ok and crc:
                start, stop = self.bounds(j)
                try:
                    self._rows[c, start:stop, :]
                except Exception:  # noqa: BLE001 - any decoding failure means a damaged file
                    ok = False
            if not ok:
                bad.append((c, j))
                self.done[c, j] = 0
        for c in sorted({c for c, _ in bad}):
            self._done_arr[c, :] = self.done[c]
        return bad

    def done_mask(self) -> np.ndarray:
        """bool[n_conditions, n_chunks]: True where the chunk is stored."""
        return self.done.astype(bool)

    def bounds(self, chunk: int) -> tuple[int, int]:
        return chunk_bounds(chunk, self.chunk_size, self.spec["n_replicates"])

    def write_chunk(self, condition: int, chunk: int, rows: np.ndarray):
        """Store the rows of one chunk, then flag it done (in that order)."""
        start, stop = self.bounds(chunk)
        rows = np.asarray(rows)
        if rows.shape != (stop - start, len(self.fields)):
            raise ValueError(f"chunk ({condition}, {chunk}): compute returned shape "
                             f"{rows.shape}, expected {(stop - start, len(self.fields))}")
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        for i in self._int_cols:
            col = rows[:, i]
            if not np.array_equal(col.astype(np.int32), col):
                raise ValueError(f"chunk ({condition}, {chunk}): field {self.fields[i]!r} is "
                                 "stored as int32 but compute returned non-integer values")
        self._rows[condition, start:stop, :] = rows  # one file, written atomically
        self.done[condition, chunk] = 1
        # One zarr chunk per condition row: the flag file is replaced atomically.
        self._done_arr[condition, :] = self.done[condition]
        self.n_computed += 1

    def close(self, history_entry: dict | None = None):
        """Record the run in the attrs and release the lock."""
        history_entry = history_entry or self.history_entry
        try:
            if self.group is not None:
                attrs = dict(self.group.attrs)
                hist = list(attrs.get("history", []))
                if history_entry is not None:
                    hist.append(history_entry)
                self.group.attrs.update({"updated": now(),
                                         "complete": bool(self.done.all()),
                                         "history": hist})
                consolidate(self.path)
        finally:
            self.group = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def consolidate(path):
    """Write the consolidated metadata xarray looks for (else it warns and
    reads every array's metadata); rewritten on every close, so it is current."""
    import zarr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not part of the Zarr format 3 specification"
        zarr.consolidate_metadata(str(path))


def _lock(path: Path, where: str):
    """Exclusive advisory lock on the store directory itself (no extra file, which
    zarr would warn about); the kernel releases it if the process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(where, f"{path} is being written by another run; wait for it "
                                "or choose another --out") from None
    except OSError:  # file system without flock (some network mounts): go on unlocked
        pass
    return fd


def _create(path: Path, spec: dict, chunk_size: int):
    """Build the empty store in a sibling temp dir, then rename it into place.

    A process killed while creating leaves only the temp dir, never a store
    that looks like ours but lacks arrays.
    """
    import zarr
    nc, nr = spec["n_conditions"], spec["n_replicates"]
    nch = n_chunks_of(nr, chunk_size)
    tmp = path.parent / f".{path.name}.creating-{uuid.uuid4().hex[:8]}"
    try:
        g = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
        coord_names = " ".join(spec["condition_coords"])
        nf = len(spec["fields"])
        a = {"long_name": "per-replicate results; one field per entry of `field` "
                          "(int_fields hold whole numbers)",
             "_FillValue": "AAAAAAAA+H8="}  # NaN, in xarray's zarr-3 encoding
        if coord_names:
            a["coordinates"] = coord_names
        # transpose: each chunk is stored field by field, so the byte shuffle sees
        # one quantity's values side by side (a 43% smaller store, and faster)
        g.create_array("rows", shape=(nc, nr, nf), chunks=(1, chunk_size, nf), dtype=np.float64,
                       fill_value=np.nan, compressors=_compressors(),
                       filters=(zarr.codecs.TransposeCodec(order=(0, 2, 1)),),
                       dimension_names=("condition", "replicate", "field"), attributes=a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fixed-length strings: see below
            g.create_array("field", data=np.asarray(spec["fields"]), dimension_names=("field",))
        g.create_array("condition", data=np.arange(nc, dtype=np.int64),
                       dimension_names=("condition",))
        g.create_array("replicate", data=np.arange(nr, dtype=np.int64),
                       chunks=(min(nr, 1 << 20),), dimension_names=("replicate",))
        for name, values in spec["condition_coords"].items():
            arr = np.asarray(values)
            with warnings.catch_warnings():
                # fixed-length strings have no zarr-3 spec yet; xarray reads them fine
                warnings.simplefilter("ignore")
                g.create_array(name, data=arr, dimension_names=("condition",))
        g.create_array("chunk_done", shape=(nc, nch), chunks=(1, nch), dtype=np.int8,
                       fill_value=0, compressors=(zarr.codecs.Crc32cCodec(),),
                       dimension_names=("condition", "chunk"),
                       attributes={"long_name": "1 once the chunk's rows are all written"})
        stamp = now()
        attrs = dict(spec["attrs"])
        attrs.update({
            "scenario_hash": spec["scenario_hash"],
            "fields": spec["fields"],
            "int_fields": spec["int_fields"],
            "chunk_size": int(chunk_size),
            "n_conditions": nc,
            "n_replicates": nr,
            "n_chunks": nch,
            "grid_dims": spec["grid_dims"],
            "condition_coords": spec["condition_coords"],
            "field_attrs": spec["field_attrs"],
            "simkit_version": __version__,
            "created": stamp,
            "updated": stamp,
            "complete": False,
            "history": [],
        })
        attrs[MARKER] = FORMAT  # last: marks the store as complete in structure
        g.attrs.update(attrs)
        consolidate(tmp)  # xarray can open it while the first run writes it
        os.rename(tmp, path)  # fails if `path` became a non-empty dir meanwhile
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_SHAPE_KEYS = ("fields", "int_fields", "n_conditions", "n_replicates",
               "condition_coords", "grid_dims")


def open_for_run(path, job, where: str = "--out") -> RunStore:
    """Create the store for `job`, or reopen it to resume; refuse anything else.

    The store keeps the chunk size it was created with (results do not depend
    on it), so resuming with another `job.chunk_size` is allowed.
    """
    spec = spec_of(job)
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise _not_a_store(path, where)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        if not path.parent.is_dir():
            raise InputError(where, f"directory {path.parent} does not exist")
        try:
            _create(path, spec, int(job.chunk_size))
        except OSError as e:
            # Someone else created it between our check and our rename: treat as resume.
            if _read_root_attrs(path) is None:
                raise InputError(where, f"cannot create the store {path}: "
                                        f"{e.strerror or e}") from None
    attrs = _read_root_attrs(path)
    if attrs is None:
        raise _not_a_store(path, where)
    _check_format(attrs, path, where)
    if attrs.get("scenario_hash") != spec["scenario_hash"]:
        raise InputError(where, f"{path} holds results of another scenario (scenario hash "
                                f"{attrs.get('scenario_hash')!s:.16}, this run "
                                f"{spec['scenario_hash']:.16}); choose another --out or "
                                "delete the store")
    diff = [k for k in _SHAPE_KEYS if attrs.get(k) != spec[k]]
    if diff:
        raise InputError(where, f"{path} was made for the same scenario but differs in "
                                f"{', '.join(diff)}; choose another --out or delete the store")
    fd = _lock(path, where)
    try:
        return RunStore(path, spec, fd)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------

def _open_attrs(path, where=None) -> tuple[Path, dict]:
    path = Path(path)
    where = where or str(path)
    if not path.exists():
        raise InputError(where, f"no results store at {path}")
    attrs = _read_root_attrs(path) if path.is_dir() else None
    if attrs is None:
        raise _not_a_store(path, where)
    _check_format(attrs, path, where)
    return path, attrs


def read_status(path) -> dict:
    """Progress of a store without loading data: chunks done / total, attrs."""
    import zarr
    path, attrs = _open_attrs(path)
    done = np.asarray(zarr.open_group(str(path), mode="r")["chunk_done"][...], dtype=bool)
    return {"chunks_done": int(done.sum()), "chunks_total": int(done.size),
            "complete": bool(done.all()), "done": done, "attrs": attrs}


def read_fields(path, names) -> tuple[dict, dict]:
    """(attrs, {name: f8[n_conditions, n_replicates]}) of a complete store, in condition order.

    The flat layout of the run (condition index = the grid's C-order ravel), for
    code that loops over conditions; raises InputError if the store is incomplete."""
    import zarr
    st = read_status(path)
    if not st["complete"]:
        raise InputError(str(path), f"the store is incomplete ({st['chunks_done']} of "
                                    f"{st['chunks_total']} chunks done); rerun the same "
                                    "`simkit run` command to finish it")
    attrs = st["attrs"]
    unknown = [n for n in names if n not in attrs["fields"]]
    if unknown:
        raise InputError(str(path), f"the store has no field(s) {unknown}")
    g = zarr.open_group(str(Path(path)), mode="r")
    values = _read_columns(g["rows"], [attrs["fields"].index(n) for n in names])
    return attrs, {n: values[i] for i, n in enumerate(names)}


_READ_BLOCK_BYTES = 64 << 20


def _read_columns(rows, idx) -> list:
    """Columns idx of the rows array as f8[n_conditions, n_replicates] each.

    A zarr chunk holds every field, so a field cannot be read alone: read
    whole chunks, about 64 MB at a time, and keep the asked columns (memory:
    the output plus one such block)."""
    nc, nr, nf = rows.shape
    out = [np.empty((nc, nr)) for _ in idx]
    if not idx:
        return out
    cs = rows.chunks[1]
    step = max(1, _READ_BLOCK_BYTES // (8 * nf * cs)) * cs
    sel = np.asarray(idx, dtype=np.int64)
    for c in range(nc):
        for start in range(0, nr, step):
            stop = min(start + step, nr)
            block = rows[c, start:stop, :]
            for k in range(sel.size):
                out[k][c, start:stop] = block[:, sel[k]]
    return out


def open_results(path, allow_incomplete: bool = False, variables=None):
    """The store as an in-memory xarray.Dataset.

    Dims: the grid's parameters (if the job had `grid_dims`) or `condition`,
    then `replicate`.  An incomplete store raises InputError unless
    `allow_incomplete`; then the rows of chunks not flagged done are NaN (int
    fields become float64 to hold the NaN) and attrs["complete"] is False.
    `variables` restricts loading to some fields (memory: 8 bytes per value).
    """
    import xarray as xr
    import zarr
    path, attrs = _open_attrs(path)
    g = zarr.open_group(str(path), mode="r")
    done = np.asarray(g["chunk_done"][...], dtype=bool)
    complete = bool(done.all())
    if not complete and not allow_incomplete:
        raise InputError(str(path), f"the store is incomplete ({int(done.sum())} of "
                                    f"{done.size} chunks done); run the same command again "
                                    "to finish it, or open it with allow_incomplete=True")
    fields = list(attrs["fields"])
    if variables is not None:
        variables = [variables] if isinstance(variables, str) else list(variables)
        unknown = [v for v in variables if v not in fields]
        if unknown:
            raise InputError("variables", f"no such fields {unknown}; the store has {fields}")
        fields = [f for f in fields if f in variables]
    nc, nr, cs = attrs["n_conditions"], attrs["n_replicates"], attrs["chunk_size"]
    missing_rows = None
    if not complete:
        missing_rows = np.repeat(~done, cs, axis=1)[:, :nr]
    field_attrs = attrs.get("field_attrs", {})
    int_fields = set(attrs["int_fields"])
    all_fields = list(attrs["fields"])
    data = {}
    for name, values in zip(fields, _read_columns(g["rows"], [all_fields.index(f) for f in fields])):
        if missing_rows is not None:
            values[missing_rows] = np.nan  # int fields stay float64 to hold the NaN
        elif name in int_fields:
            values = values.astype(np.int32)
        data[name] = values

    coords_json = attrs["condition_coords"]
    grid_dims = attrs.get("grid_dims")
    ds_attrs = {k: v for k, v in attrs.items()
                if k not in ("condition_coords", "field_attrs", MARKER)}
    ds_attrs.update({"complete": complete, "chunks_done": int(done.sum()),
                     "chunks_total": int(done.size)})
    replicate = np.arange(nr, dtype=np.int64)
    if grid_dims:
        levels, shape = _grid_shape(coords_json, grid_dims, nc)
        dims = tuple(grid_dims) + ("replicate",)
        coords = {d: np.asarray(levels[i]) for i, d in enumerate(grid_dims)}
        coords["replicate"] = replicate
        coords["condition"] = (tuple(grid_dims), np.arange(nc, dtype=np.int64).reshape(shape))
        for name, values in coords_json.items():
            if name not in grid_dims:
                coords[name] = (tuple(grid_dims), np.asarray(values).reshape(shape))
        data_vars = {n: (dims, v.reshape(shape + (nr,)), dict(field_attrs.get(n, {})))
                     for n, v in data.items()}
    else:
        dims = ("condition", "replicate")
        coords = {"condition": np.arange(nc, dtype=np.int64), "replicate": replicate}
        for name, values in coords_json.items():
            coords[name] = ("condition", np.asarray(values))
        data_vars = {n: (dims, v, dict(field_attrs.get(n, {}))) for n, v in data.items()}
    return xr.Dataset(data_vars, coords=coords, attrs=ds_attrs)
