#!/usr/bin/env bash
# One leg of a GPU fine-tune, on the device machine, from the repository root
# (device.run with carry [".whl", "carry"]):
#
#   bash tools/device/leg.sh LEG_MINUTES [more `python -m aecodec.train` options]
#
# The first leg starts from $FROM (default: the shipped default weights; or a checkpoint) and
# a schedule of $TOTAL minutes (default 22); a later leg (CONTINUE=1) on the same, still warm
# machine continues runs/gpu/last.ckpt, Adam's moments and the schedule included. Each leg stops after
# LEG_MINUTES of training with a checkpoint and a quick Kodak eval, and returns under $OUT:
# log.jsonl and ckpt/ (the checkpoint packed into parts; `python -m aecodec.train.device
# unpack` joins them here). weights/TRAINING.md has the runbook.
set -euo pipefail
LEG=${1:?usage: leg.sh LEG_MINUTES [train options]}
shift
RUN=runs/gpu
: "${OUT:?OUT must name the folder whose files come back}"
source "$(dirname "$0")/env.sh"
if [ -f "$RUN/last.ckpt" ]; then
    from=(--resume "$RUN/last.ckpt")
elif [ -n "${CONTINUE:-}" ]; then
    # a later leg on a machine that went cold: starting over from the weights would throw the
    # earlier legs away; carry their weights instead (FROM=carry/weights, see the runbook)
    echo "no $RUN/last.ckpt here: the machine is a fresh one" >&2
    exit 3
else
    from=(--resume "${FROM:-weights}")
fi
python3 -m aecodec.train "${from[@]}" --device cuda --data carry/train --kodak carry/kodak \
    --out "$RUN" --minutes "${TOTAL:-22}" --stop-minutes "$LEG" --ckpt-minutes 2 \
    --eval-minutes 1000 --log-every 200 "$@"
python3 -m aecodec.train.device pack "$RUN/last.ckpt" "$OUT/ckpt"
cp "$RUN/log.jsonl" "$OUT/log.jsonl"
