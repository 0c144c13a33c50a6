#!/usr/bin/env bash
# Two fine-tunes side by side on one lent GPU, in one device call (carry [".whl", "carry"]):
#
#   bash tools/device/pair.sh MINUTES "LR_A LR_B" [more `python -m aecodec.train` options]
#
# A session's device time (15 minutes) holds one 10-minute call and a short second one on the
# still-warm machine, so each run is a whole schedule of MINUTES from $FROM (default: the
# shipped default weights; or a checkpoint, e.g. runs/pair1/last.ckpt from the first call),
# and two learning rates are tried at once (two runs kept an H200 86 % busy, each at 1,600-
# 1,850 images/s at 128 px; weights/TRAINING.md, cc-v14). Each run returns under
# $OUT/runN: its checkpoint in float16 parts (`python -m aecodec.train.device unpack`) and
# log.jsonl: 4 files a run, the 8 a call may return. A run that fails or overruns still
# packs the last checkpoint it saved (every 2 minutes).
set -uo pipefail
MINUTES=${1:?usage: pair.sh MINUTES "LR_A LR_B" [train options]}
LRS=${2:?usage: pair.sh MINUTES "LR_A LR_B" [train options]}
shift 2
: "${OUT:?OUT must name the folder whose files come back}"
source "$(dirname "$0")/env.sh" || exit 1
# a hard stop 50 s past the schedule (start-up, the final eval): what was saved by then
# still comes back
LIMIT=$(python3 -c "print(int($MINUTES * 60 + 50))")
i=0
for lr in $LRS; do
    timeout "$LIMIT" python3 -m aecodec.train --resume "${FROM:-weights}" \
        --device "${DEVICE:-cuda}" --data carry/train --kodak carry/kodak --out "runs/pair$i" \
        --minutes "$MINUTES" --ckpt-minutes 2 --eval-minutes 1000 --log-every 200 \
        --lr "$lr" --seed $((20 + i)) "$@" 2>&1 | sed -u "s/^/[run$i] /" &
    i=$((i + 1))
done
wait
for ((j = 0; j < i; j++)); do
    if [ -f "runs/pair$j/last.ckpt" ]; then
        python3 -m aecodec.train.device pack --half "runs/pair$j/last.ckpt" "$OUT/run$j"
        cp "runs/pair$j/log.jsonl" "$OUT/run$j/log.jsonl"
    fi
done
