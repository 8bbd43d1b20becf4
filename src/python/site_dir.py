"""Prints where `cmake --install --prefix PREFIX` puts the Python module, and whether the
interpreter running this searches it: the first site-packages (or Debian's dist-packages) on
its path right under PREFIX/lib (the user site counts, though Python adds it only once it
exists), else PREFIX/lib/pythonX.Y/site-packages. Output: "DIR;1" or "DIR;0"."""
import os
import site
import sys

prefix = os.path.realpath(sys.argv[1])
searched = list(sys.path)
if site.ENABLE_USER_SITE:
    searched.append(site.getusersitepackages())
for entry in searched:
    path = os.path.realpath(entry) if entry else ""
    # PREFIX/lib/...: /usr takes /usr/lib/python3/dist-packages, not /usr/local's.
    if os.path.basename(path) in ("site-packages", "dist-packages") and path.startswith(os.path.join(prefix, "lib") + os.sep):
        print(f"{path};1")
        break
else:
    print(os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages") + ";0")
