"""heapdig's PEP 517 build backend: `pip install .` and `pip wheel .` with
no network and nothing to download.  It lives in the repository
(pyproject.toml's backend-path) and drives the CMake build for the
interpreter pip runs it with, then packs a wheel by hand:

    heapdig/                       the package: dump API, triggers, and the
                                   C core _heapdig built for this interpreter
    heapdig-V.data/scripts/heapdig the heapdig CLI (load, suspects, attach...)
    heapdig-V.dist-info/           METADATA, WHEEL, entry of the RECORD

The wheel is tagged for this interpreter and platform (cp311-cp311-
linux_x86_64): the extension is built against this CPython's headers."""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

NAME = "heapdig"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _version():
    """The project version follows the dump format's (CMakeLists.txt)."""
    major = minor = None
    with open(os.path.join(ROOT, "include", "heapdig", "format.h")) as f:
        for line in f:
            if line.startswith("#define HD_FORMAT_MAJOR "):
                major = line.split()[2]
            elif line.startswith("#define HD_FORMAT_MINOR "):
                minor = line.split()[2]
    return "%s.%s" % (major, minor)


def _tag():
    impl = "cp%d%d" % sys.version_info[:2]
    abi = impl + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (impl, abi, plat)


def _metadata(version):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Heap dumps of live CPython processes, analysed offline:"
            " what is using the memory, and why it is still alive\n"
            "License: MIT\nRequires-Python: >=3.9\n"
            "Description-Content-Type: text/markdown\n\n%s" %
            (NAME, version, readme))


def _build(build_dir):
    """Configures and builds the CLI and the extension for sys.executable."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("heapdig needs cmake to build (Debian: apt-get "
                           "install cmake; scripts/setup.sh installs all)")
    subprocess.check_call(
        [cmake, "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
         "-DHD_BUILD_TESTS=OFF", "-DHD_SID_TESTS=OFF",
         "-DPython3_EXECUTABLE=" + sys.executable], stdout=sys.stderr)
    subprocess.check_call(
        [cmake, "--build", build_dir, "-j%d" % (os.cpu_count() or 1),
         "--target", "heapdig", "heapdig_python", "heapdig_python_files"],
        stdout=sys.stderr)


def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(
        hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    version = _version()
    tag = _tag()
    name = "%s-%s-%s.whl" % (NAME, version, tag)
    build_dir = tempfile.mkdtemp(prefix="heapdig-wheel-")
    try:
        _build(build_dir)
        files = []  # (name in the wheel, bytes, mode)
        pkg = os.path.join(build_dir, "python", "heapdig")
        for f in sorted(os.listdir(pkg)):
            if f.endswith((".py", ".so")):
                p = os.path.join(pkg, f)
                files.append(("heapdig/" + f, open(p, "rb").read(),
                              os.stat(p).st_mode))
        cli = os.path.join(build_dir, "heapdig")
        files.append(("%s-%s.data/scripts/heapdig" % (NAME, version),
                      open(cli, "rb").read(), 0o755))
        info = "%s-%s.dist-info" % (NAME, version)
        files.append((info + "/METADATA", _metadata(version).encode(), 0o644))
        files.append((info + "/WHEEL", (
            "Wheel-Version: 1.0\nGenerator: heapdig_build\n"
            "Root-Is-Purelib: false\nTag: %s\n" % tag).encode(), 0o644))
        record = [_record_line(a, d) for a, d, _ in files]
        record.append(info + "/RECORD,,")
        files.append((info + "/RECORD", ("\n".join(record) + "\n").encode(),
                      0o644))
        path = os.path.join(wheel_directory, name)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for arc, data, mode in files:
                zi = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
                zi.external_attr = (mode & 0o777 | 0o100000) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_sdist(sdist_directory, config_settings=None):
    """The tracked files as NAME-VERSION.tar.gz (git ls-files)."""
    import tarfile
    version = _version()
    base = "%s-%s" % (NAME, version)
    files = subprocess.check_output(["git", "-C", ROOT, "ls-files", "-z"])
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for f in files.decode().split("\0"):
            if f:
                t.add(os.path.join(ROOT, f), arcname=base + "/" + f)
        meta = _metadata(version).encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(meta)
        import io
        t.addfile(ti, io.BytesIO(meta))
    return base + ".tar.gz"


def get_requires_for_build_sdist(config_settings=None):
    return []
