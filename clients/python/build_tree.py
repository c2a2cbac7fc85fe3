"""Lay out an importable roster package in a build directory: the sources
of clients/python/roster copied, roster_pb2.py generated from roster.proto
with protoc. Used by the meson build (tests, benchmarks), so that the
generated module never lands in the source tree.

    build_tree.py SRC_PKG_DIR PROTO OUT_DIR STAMP"""
import os
import shutil
import subprocess
import sys


def main():
    src, proto, out, stamp = sys.argv[1:5]
    pkg = os.path.join(out, "roster")
    os.makedirs(pkg, exist_ok=True)
    for name in os.listdir(pkg):  # a module removed from the sources goes too
        if name.endswith(".py") and not os.path.exists(os.path.join(src, name)) \
                and name != "roster_pb2.py":
            os.unlink(os.path.join(pkg, name))
    for name in sorted(os.listdir(src)):
        if name.endswith(".py") or name == "py.typed":
            shutil.copyfile(os.path.join(src, name), os.path.join(pkg, name))
    subprocess.run(["protoc", f"--proto_path={os.path.dirname(os.path.abspath(proto))}",
                    f"--python_out={pkg}", os.path.abspath(proto)], check=True)
    with open(stamp, "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
