"""Building the wheel builds the C ABI library with SwiftPM and puts it inside the package.

    pip install ./python                      # runs swift build in the checkout above this folder
    SPARSE_SKELETON_PREBUILT_LIB=/abs/libSparseSkeletonC.so pip wheel ./python   # ship a built one

The library is linked with the Swift runtime statically (-static-stdlib), so the wheel runs on a
machine without Swift; it opens libcuda and NVRTC at run time, so it needs no CUDA to build.
The build refuses a library whose sk_abi_version() differs from the package's ABI_VERSION."""
import ctypes
import os
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = "libSparseSkeletonC.so"


def package_abi():
    scope = {}
    with open(os.path.join(HERE, "sparse_skeleton", "_version.py")) as f:
        exec(f.read(), scope)
    return scope["ABI_VERSION"]


def build_library():
    prebuilt = os.environ.get("SPARSE_SKELETON_PREBUILT_LIB")
    if prebuilt:
        if not os.path.isabs(prebuilt) or not os.path.exists(prebuilt):
            sys.exit(f"SPARSE_SKELETON_PREBUILT_LIB must be an absolute path to an existing {LIB}, got {prebuilt!r}")
        return prebuilt
    repo = os.environ.get("SPARSE_SKELETON_REPO") or os.path.dirname(HERE)
    if not os.path.exists(os.path.join(repo, "Package.swift")):
        sys.exit(f"no Package.swift in {repo}: build from the SparseSkeleton checkout (or set SPARSE_SKELETON_REPO / "
                 "SPARSE_SKELETON_PREBUILT_LIB)")
    if shutil.which("swift") is None:
        sys.exit("building sparse-skeleton needs Swift (swift build); on a machine without it install a built wheel "
                 "with pip install --no-deps")
    scratch = os.path.join(repo, ".build-capi")
    cmd = ["swift", "build", "-c", "release", "--product", "SparseSkeletonC", "-Xswiftc", "-static-stdlib",
           "--scratch-path", scratch]
    print("sparse-skeleton: " + " ".join(cmd), flush=True)
    subprocess.check_call(cmd, cwd=repo)
    return os.path.join(scratch, "release", LIB)


def check_abi(path):
    lib = ctypes.CDLL(path)
    lib.sk_abi_version.restype = ctypes.c_int
    found, want = lib.sk_abi_version(), package_abi()
    if found != want:
        sys.exit(f"{path} has ABI version {found}, the package expects {want}")


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        lib = build_library()
        check_abi(lib)
        target = os.path.join(self.build_lib, "sparse_skeleton", LIB)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(lib, target)
        if shutil.which("strip"):  # the symbol tables are most of the library's size
            subprocess.check_call(["strip", "--strip-unneeded", target])


class BinaryDistribution(Distribution):
    """A platform (not pure) distribution: it ships a native library."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """One wheel for every Python 3 (ctypes, no extension module), tagged for the platform of the .so."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel})
