"""The build hook of the roster package: roster/roster_pb2.py is generated
from proto/roster.proto with protoc (Debian: protobuf-compiler) into the
build directory, never into the source tree. The metadata is in
pyproject.toml.

The schema is looked for in $ROSTER_PROTO (a path to roster.proto), then in
../../proto/roster.proto (this directory inside a Roster checkout)."""
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_path():
    for p in (os.environ.get("ROSTER_PROTO"),
              os.path.join(HERE, "..", "..", "proto", "roster.proto")):
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    raise SystemExit("roster: proto/roster.proto not found (set ROSTER_PROTO to its path)")


def generate(out_dir):
    """protoc --python_out into @p out_dir/roster (the package directory)."""
    proto = proto_path()
    pkg = os.path.join(out_dir, "roster")
    os.makedirs(pkg, exist_ok=True)
    subprocess.run(["protoc", f"--proto_path={os.path.dirname(proto)}",
                    f"--python_out={pkg}", proto], check=True)


class BuildWithProto(build_py):
    def run(self):
        super().run()
        if not self.dry_run:
            generate(self.build_lib)


setup(cmdclass={"build_py": BuildWithProto})
