#!/usr/bin/env python3
"""Summarizes the LeakSanitizer reports that Benchmarks/leakcheck.sh collects.

    python3 Benchmarks/leak_summary.py REPORT_DIR SOURCES_DIR

Reads every `lsan.EXE.PID` file in REPORT_DIR (ASAN_OPTIONS=log_path=REPORT_DIR/lsan,log_exe_name=1),
groups the leaks of the `aifs` processes (daemons and command-line runs) by allocation site and
sorts each site into one of:

- project: the innermost frame with a source file is in SOURCES_DIR (our own code);
- Swift weak-reference side table: allocated by swift_weakInit / swift_weakAssign. The runtime
  keeps the side table's address shifted inside the object's reference count, where LSan cannot
  see it, so a side table of an object still alive at exit is reported although nothing leaked;
- third-party: the innermost frame with a source file is in a dependency (named by its checkout);
- toolchain: a raw buffer that a toolchain library (Foundation…) allocated for itself;
- runtime: no frame with a source file (Swift runtime, Foundation, libc, libfuse…).

Frames in the toolchain's own sources (Swift runtime, Foundation, C++ headers) are skipped when
looking for that innermost frame.

Exit status 1 if any leak is attributed to the project's own code.
"""
import collections, glob, os, re, sys

REPORTS, SOURCES = sys.argv[1], os.path.realpath(sys.argv[2])
FRAME = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+ in (.*)$")
LOCATION = re.compile(r"^(.*?)(?::(\d+))?(?::\d+)?$")
HEADER = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:")


def leaks(path):
    """(kind, bytes, objects, [(function, file, line)]) for each leak record of one report."""
    records, current = [], None
    for line in open(path, errors="replace"):
        header = HEADER.match(line)
        if header:
            current = (header.group(1), int(header.group(2)), int(header.group(3)), [])
            records.append(current)
            continue
        frame = FRAME.match(line.rstrip("\n"))
        if frame and current is not None:
            # "FUNCTION /path/to/file.swift:LINE:COLUMN" (paths may hold spaces) or
            # "FUNCTION (library.so+0x…) (BuildId: …)"
            text = frame.group(2)
            function, _, rest = text.partition(" /")
            file, line_number = "", ""
            if rest:
                location = LOCATION.match("/" + rest)
                file, line_number = location.group(1), location.group(2) or ""
            else:
                function = text.split(" (")[0]
            current[3].append((function, file, line_number))
        elif not line.strip():
            current = None
    return records


ALLOCATORS = ("malloc", "calloc", "realloc", "posix_memalign", "operator new", "strdup", "swift_slowAlloc",
              "swift_allocObject")
TOOLCHAIN = {"$s20FoundationEssentials": "FoundationEssentials", "$s10Foundation": "Foundation",
             "$s8Dispatch": "Dispatch", "$ss": "the Swift standard library"}


def classify(kind, frames):
    names = " ".join(function for function, _, _ in frames[:6])
    if "swift_weakInit" in names or "swift_weakAssign" in names or "formWeakReference" in names:
        return "Swift weak-reference side table (false positive)"
    # A raw buffer (not a Swift object handed to the caller) malloc'ed inside a toolchain library
    # belongs to that library.
    allocators = [f for f, _, _ in frames if f.startswith(ALLOCATORS)]
    callers = [f for f, _, _ in frames if not f.startswith(ALLOCATORS)]
    if callers and not any(a.startswith("swift_allocObject") for a in allocators):
        for prefix, module in TOOLCHAIN.items():
            if callers[0].startswith(prefix):
                return f"toolchain: {module}"
    for function, file, _ in frames:
        if not file or "/compiler-rt/" in file or "<compiler-generated>" in file:
            continue
        real = os.path.realpath(file)
        if real.startswith(SOURCES + os.sep):
            return "project"
        checkout = re.search(r"/checkouts/([^/]+)/", real)
        if checkout:
            return f"third-party: {checkout.group(1)}"
        if ("/swift/" in real or "/swift-corelibs" in real or "/llvm-project/" in real
                or real.startswith(("/home/build-user/", "/usr/include/"))):
            continue  # the toolchain's own sources (runtime, Foundation): look further out
        return f"third-party: {real}"
    if kind == "Indirect" and len(callers) <= 1:
        return "stack cut short (C++ new; indirect ones belong to a direct leak above)"
    return "runtime (no frame with a source file)"


def site(frames):
    """Where it was allocated: the first frames that are not the allocator itself."""
    shown = []
    for function, file, line in frames:
        if function.startswith(ALLOCATORS):
            continue
        where = f"{os.path.basename(file)}:{line}" if file else ""
        shown.append(f"{function[:90]} {where}".strip())
        if len(shown) == 4:
            break
    return " <- ".join(shown)


def main():
    files = sorted(glob.glob(os.path.join(REPORTS, "lsan.*")))
    by_exe = collections.defaultdict(list)
    for path in files:
        exe = os.path.basename(path).split(".")[1]
        by_exe[exe].append(path)
    print(f"{len(files)} LeakSanitizer reports in {REPORTS}: "
          + ", ".join(f"{len(v)} from {k}" for k, v in sorted(by_exe.items())))
    project = 0
    for exe, paths in sorted(by_exe.items()):
        if exe != "aifs":
            print(f"\n{exe} (the test runner, not the daemon): "
                  f"{sum(b for p in paths for _, b, _, _ in leaks(p))} bytes reported (not classified)")
            continue
        categories = collections.defaultdict(lambda: [0, 0, set()])
        sites = collections.defaultdict(lambda: [0, 0, 0, ""])
        for path in paths:
            for kind, size, objects, frames in leaks(path):
                category = classify(kind, frames)
                entry = categories[category]
                entry[0] += size
                entry[1] += objects
                entry[2].add(path)
                key = (category, kind, site(frames))
                sites[key][0] += size
                sites[key][1] += objects
                sites[key][2] += 1
        print(f"\naifs processes with a report: {len(paths)}")
        if not categories:
            print("  no leaks")
        for category, (size, objects, reports) in sorted(categories.items(), key=lambda kv: -kv[1][0]):
            print(f"  {category}: {size} bytes in {objects} objects, in {len(reports)} of {len(paths)} processes")
            if category == "project":
                project += size
        print("\nallocation sites (bytes over all processes, objects, records):")
        for (category, kind, where), (size, objects, count, _) in sorted(sites.items(), key=lambda kv: -kv[1][0]):
            print(f"  [{category}] {kind} {size} B, {objects} objects, {count} records: {where}")
    print(f"\nleaks in the project's own code: {project} bytes")
    sys.exit(1 if project else 0)


if __name__ == "__main__":
    main()
