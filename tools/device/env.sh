# Sourced by the device-machine scripts (leg.sh, pair.sh) from the repository root: the machine
# has torch but not constriction and cannot fetch it, so install the wheel prepare.py put in
# .whl, and put the repository on PYTHONPATH (it is a working tree there, not installed).
if ! python3 -c "import constriction" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || return 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
