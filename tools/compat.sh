#!/usr/bin/env bash
# Run the test suite under one Python interpreter and one torch release, in a fresh venv:
#
#   bash tools/compat.sh PYTHON TORCH_VERSION [VENV_DIR]
#   bash tools/compat.sh /root/.pyenv/versions/3.10.13/bin/python 2.3.1
#
# The golden files (tests/golden) then say whether that pair decodes every shipped model's
# files to the same symbols. pyproject's floors (Python, torch) are the oldest pair run this
# way; README.md "Python and torch versions" lists every pair that passed. Each venv takes
# about 5 GB (torch's CUDA wheels from PyPI), so the default folder is under /tmp.
set -euo pipefail
python=${1:?usage: compat.sh PYTHON TORCH_VERSION [VENV_DIR]}
torch_version=${2:?usage: compat.sh PYTHON TORCH_VERSION [VENV_DIR]}
venv=${3:-/tmp/aecodec-compat-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-torch$torch_version}
repo=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$venv"
"$python" -m venv "$venv"
# torch first and pinned, so that installing the package does not move it
"$venv/bin/pip" install -q "torch==$torch_version"
"$venv/bin/pip" install -q "$repo[test]" "torch==$torch_version"
"$venv/bin/python" -c 'import sys, torch, numpy, PIL, constriction
print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__,
      "pillow", PIL.__version__)'
# as .ci/run does: installed, then the tests from the checkout (tests/, ../shared)
cd "$repo"
"$venv/bin/python" -m pytest -q -p no:cacheprovider
