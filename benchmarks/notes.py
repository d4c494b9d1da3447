"""What bounds each figure, and what the profiles showed: the prose under each table of
docs/benchmarks.md. The profiles themselves are taken in the same run (see ``profiling.py``); the
numbers quoted here come from those profiles and from the investigations named, on this machine."""

NOTES: dict[str, str] = {
    "B1": """\
**What bounds it.** With 50 ms added to every response, the count of round trips and how many run
at once decide: cipub sends each file's requests on 4 connections at once and asks for state once
per (name, version); anaconda-client and rattler-build's uploader go one file, one request, at a
time (the request counts are in the table). On plain loopback nothing waits on the network: the
bound is the test server itself (Python's `http.server`, one process) and each client's fixed
start-up. For rattler-build's uploader that is a Rust library behind a ~60 ms Python import; for
cipub it is the Python start-up of the whole CLI, which the profile above breaks down:

- **typer 0.29 builds pydantic `TypeAdapter`s for every option at parse time** (`typer/_coercion.py`,
  `_adapters.py`): importing pydantic and building the adapters is the largest single item of
  every cipub command. typer 0.28 and earlier do not do this (measured: `cipub build` 0.43 s ->
  0.33 s with typer 0.28 on the same machine). Fix: `typer>=0.12,<0.29` in pyproject.toml until
  typer makes this lazy.
- **Every package is re-checked in full before the first write** (`publish._checked_artifact` ->
  `read_artifact`: decompress every member, hash twice): about 1.1 ms per small package, 112 ms for
  100. The manifest already carries each file's sha256 from a full check at build time; when the
  file's sha256 still matches, reading only `info/index.json` (0.35 ms) proves the same thing.
  Fix: a `read_artifact(..., scan=False)` path for files whose sha256 equals the manifest's.
- **jsonschema**: validating the manifest imports jsonschema (about 120-160 ms cold, with
  `referencing`/`rpds`) to validate a document that takes 13-26 ms. Fix: validate with the
  schema only when the cheap structural checks in `Manifest.from_dict` fail, or keep a compiled
  validator; the schema file still ships for other tools.
- httpx's package import pulled in its own CLI (`httpx._main`: rich, pygments, click), about
  70 ms, on every command that talks to a server: fixed in `cipub/cli/__init__.py` during this work.
""",
    "B2": """\
**Why the gap is large.** anaconda-client has no way to promote a set of files: its users run one
`anaconda copy` (or `anaconda move`) per file, and each invocation pays anaconda-client's start-up
(about 1.7 s here, B4) plus its checks (`GET /channels/{owner}` first, then the copy). cipub
promotes the manifest's files in one process: one state query per (name, version), one label
request per file, then a read-back that checks every file's label and sha256.
""",
    "B3": """\
**Server:** flat. One `GET /release/{owner}/{name}/{version}` answers for one package whatever the
channel's size (the test server keeps per-package indexes, as anaconda.org does); the bytes read do
not change from 1k to 100k files.

**Local channel:** listing the directory is the one cost that grows (`os.listdir`: about 0.4 us
an entry, 40 ms for 100,000 here; POSIX directories have no prefix lookup). Two changes (issue 12):
a lookup answers its one query by a scan of the raw listing instead of filtering and sorting all
of it (that doubled the listing's cost), and the listing is saved in the user's cache
(`~/.cache/cipub/listings`, never in the channel) under the directory's (device, inode, mtime,
ctime). A directory's ctime moves whenever any tool adds, removes or renames an entry (and on any
utime), so the saved listing answers exactly while nothing changed, and the first lookup after a
change lists the directory again. It is saved only when the directory had been unchanged for
2 s before it was listed (a change in the same timestamp tick could leave the ctime as it was),
and only on local filesystems known to keep directory times (ext4, xfs, btrfs, tmpfs, zfs, f2fs).
So the rows "first lookup after a change" still grow with the directory (listing plus saving), and
the lookups of an unchanged channel read the saved bytes (3.4 MB at 100,000 files: the bytes-read
ratio) and search them for `\nNAME-` in place. `repodata.json` was no alternative: it is the
whole channel's records (parsing it costs more than listing) and is not current when another tool
adds files without indexing. Exact-name `stat` cannot find a package's builds (their build strings
are not known in advance).
""",
    "B4": """\
**What bounds it.** `python -c pass` is the floor. `cipub --help` renders with typer's rich help
(`typer.rich_utils`, `rich.markdown`: about 80-110 ms of imports alone; a two-command typer app with
rich help takes about 0.27 s here, the same app with `rich_markup_mode=None` about 0.14 s), and
imports every command module, which import their dependencies at module level: `cipub.ci` ->
`cipub.core.manifest` (dataclasses, yaml), `cipub.cli.ci` -> `jinja2`, `asyncio`. The import profile
above shows the split. To reach 1.5 x floor + 150 ms: (1) plain click help
(`rich_markup_mode=None`, with `\\b` blocks to keep the examples' line breaks), and (2) move the
heavy imports of `cipub/cli/*.py` and `cipub/ci/` inside the functions that use them (the
commands still register, their modules become cheap). anaconda-client's own start-up is 5x
cipub's with its default entry point, 2.5x with `ANACONDA_CLIENT_FORCE_STANDALONE`.
""",
    "B5": """\
Both tools stream the file from disk: memory does not grow with the artifact. cipub's peak
(about 57 MiB) is the interpreter plus its imports; it reads, hashes and sends in 1 MiB chunks
(`transport.file_chunks`) and checks the package by streaming (`conda-package-streaming`).
""",
    "B6": """\
No goal is set for B6. Both find the same variants (checked). py-rattler-build renders in Rust
behind a ~60 ms import; `cipub plan` pays the CLI start-up (B4, B1's typer/pydantic item) and reads
the variant files itself in Python (selectors, zip_keys, migrations) before asking
py-rattler-build which keys the recipe uses.
""",
    "B10": """\
**Scaling.** Linear in cells: from 10 to 1,000 (3,000) cells cipub adds 0.7-0.8x the seconds the
render adds (0.26-0.32 s against 0.25-0.30 s at 1,000 cells). `_cells_from_outputs` indexes the
rendered outputs by their values; the last quadratic step was `make_plan` calling
`Plan.job_cells` once per job (0.55 s of 1.66 s under cProfile at 3,000 cells; now
`Plan.cells_by_job`, one pass). Above ~1,000 cells both sides' time is py-rattler-build's render
(`render_recipe`: 0.26 s of cipub's 3,000-cell plan under cProfile) and JSON output. **What bounds
the small plans**: start-up. At 10 cells cipub takes ~0.1 s against ~0.05 s; `-X importtime`
shows typer (~32 ms) and PyYAML (~12 ms, through `cipub.recipe.variants`) on top of the
`rattler_build` import both pay: the ~45 ms difference (B4, and issue 12's first item).
**Multi-output**: 0.25 s for 20 outputs x 8 keys, 0.6 s with conda-forge's whole pinning (the
render is handed only the keys the recipe names; issue 17's class 7 was the minutes). The check
that every rendered output variant is published found outputs that pin a sibling exactly (a -dev
split, a metapackage) published by the first cell only (64 of 72); fixed in
`_pinned_sibling_values`.
""",
    "B7": """\
**What bounds it.** Inside `build_recipes` the time is py-rattler-build's own: timed around the
call, the worker's call and the direct one take the same (100 MB: 3.45-3.87 s against 3.50-3.83 s;
starter: 0.027-0.030 s against 0.026-0.034 s; same user+sys CPU), whatever py-spy's active-sample
counts suggest (its idle detection counts the worker's waits). What cipub adds is start-up and its
package check. The check (every member decompressed, sha256 and md5: 0.3-0.6 s for 100 MB) now runs
while rattler-build still indexes its output folder, which it does for about a second after
writing the package, so the mid-size build pays only the start-up (the py-spy profile above
samples the check in its background thread; it is no longer on the critical path). The start-up:
cipub's CLI (interpreter, typer, the build command's modules and the recipe read with
py-rattler-build: about 90 ms before the worker is needed) plus a second interpreter for the build
(py-rattler-build holds the GIL for the whole build, so it runs in a child to keep Ctrl-C, the log
and the heartbeat alive). Issue 12's work: only the named command's CLI module is loaded, the
worker imports no other engine, it starts before the recipe is read (its interpreter and import
overlap with cipub's own), and py-rattler's import for the checks waits for the worker. For a
0.08 s peer the ratio cannot reach 1.3 with a Python CLI in front (its interpreter start alone is
15-20 ms); the added seconds are the measure there.
""",
    "B8": """\
**What bounds it.** The peer is one process that copies the files and indexes two labels, and
neither checks a package nor makes a file durable. cipub is two processes (upload, then promote),
each paying start-up (B4: about 0.12-0.15 s each, most of the 10-package gap), and per file it
checks the package in full (a manifest read from disk proves nothing about the file: decompress
and walk every member), copies it to a temporary name and flushes it to disk (`fdatasync`, a few
threads) before linking it in, reads each file back by sha256, and writes its receipts to the
manifest and the ledger. Where the 1,000-package run goes (py-spy of the main thread, and phases
timed in-process, machine load 2-3.5 on 2 CPUs, branch `loopfast`): upload: the check about half
(0.45-0.55 s: zipfile and tarfile walking 1 kB packages in pure Python, and a zstd context per
component), copy + hash 0.2-0.3 s (creating 1,000 inodes: 20-370 us each, with the disk's other
traffic), the flush 0.15-0.2 s (paired with and without it; waiting for it at the end is 2-20 ms,
it runs while the batch copies, 16 files per task), re-index 0.15-0.2 s, manifest and ledger
0.04 s; promote: re-index 0.15-0.2 s, reading the staged copies back by sha256 and verifying
0.1 s, 1,000 links 0.05 s, manifest and ledger 0.05 s. `index_fs` is incremental (a label of 999
indexed files with 1 new: 0.04 s): both tools index 1,000 new files twice here. Tried and not
kept: the check on a thread pool sized to the CPUs (2 threads: 0.58 -> 0.74 s wall for 1,000
checks, the walk holds the GIL), the check overlapped with copying in a second thread (upload
1.10-1.36 -> 1.44-1.73 s, GIL contention), a 2-process pool for the check (no gain on the loaded
machine: 0.52-0.61 -> 0.47-0.86 s), one read per small package (within noise), 16 or 32 flush
threads or all flushes at the end (within noise), `os.sync` once per batch (not kept: it waits for
every other process's dirty data; Python 3.11 has no `os.syncfs`). The check and the flush are
guarantees and alone take about as long as the peer's whole run: the 1.5 goal is missed by what
cipub guarantees and the peer does not. What made it quadratic is gone (issue 12): a batch lists
each label/subdir once and syncs only its own files, so the ratio does not grow with N.
""",
}
