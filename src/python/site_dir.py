"""Prints where `cmake --install --prefix PREFIX` puts the Python module, and whether the
interpreter running this searches it: the first site-packages (or Debian's dist-packages) on
its path under PREFIX, else PREFIX/lib/pythonX.Y/site-packages. Output: "DIR;1" or "DIR;0"."""
import os
import sys

prefix = os.path.realpath(sys.argv[1])
for entry in sys.path:
    path = os.path.realpath(entry) if entry else ""
    if os.path.basename(path) in ("site-packages", "dist-packages") and path.startswith(prefix + os.sep):
        print(f"{path};1")
        break
else:
    print(os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages") + ";0")
