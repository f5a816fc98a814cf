"""What the benchmarks share: the release binary and percentiles."""
import os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def aifs_binary():
    """Builds the release `aifs` (if needed) and returns its path."""
    out = subprocess.run(["swift", "build", "-c", "release", "--product", "aifs"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("build failed:\n" + out.stderr)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(path, "aifs")


def percentile(values, p):
    """The p-th percentile, interpolated between the two nearest ranks."""
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)
