#!/usr/bin/env bash
# One-shot check of a GPU box (about 6 minutes on one H100), run from the repository root:
#   OUT=/some/folder bash benchmarks/gpu_check.sh
# 1. writes synthetic CIFAR-100-format files (50,000 train / 10,000 test; learnable class patterns) with the tests'
#    fixture writer;
# 2. times `run.py --preset cifar20 --smoke` on them (every stage, tiny settings) and checks its known answers;
# 3. runs benchmarks/bench_paper_preset.py (training loop vs plain PyTorch, ReA batching, Wfisher memory);
# 4. times a CIFAR-20 ResNet18 pretraining: GPU_CHECK_EPOCHS epochs (default 3; 40 = the paper's recipe), the
#    per-epoch time is in its train_log.tsv; then (not in tiny mode) the same with --capture (CUDA graphs).
# Logs go to $OUT/*.log, a summary to $OUT/summary.txt, the benchmark's tables to $OUT/paper_preset.md (a docs page
# for docs/results/); each part has a time limit (GPU_CHECK_<PART>_S).
# GPU_CHECK_TINY=1: tiny sizes (a CPU dry run of the script).
set -uo pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=${PYTHON:-python3}
EPOCHS=${GPU_CHECK_EPOCHS:-3}
if [ "${GPU_CHECK_TINY:-0}" = 1 ]; then
  TRAIN=6; TEST=1; EPOCHS=1; QUICK=--quick; NET=(--net resnet8); SMOKE_METHODS=(--methods baseline retrain badteacher_our)
  BENCH_S=${GPU_CHECK_BENCH_S:-420}  # the CPU benchmark's --quick sizes take ~100 s on a quiet 2-core CPU, (d) ~1 min more
  SMOKE_S=${GPU_CHECK_SMOKE_S:-600}  # every stage, 3 methods + the masked entry, on a loaded CPU
else
  TRAIN=500; TEST=100; QUICK=; NET=(); SMOKE_METHODS=()
  BENCH_S=${GPU_CHECK_BENCH_S:-420}  # (a)–(c) ~100 s on an H200; (d) compiles two captured steps (not yet timed on a GPU)
  SMOKE_S=${GPU_CHECK_SMOKE_S:-240}
fi
status=0
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
timed() {  # timed NAME LIMIT_S CMD...: run, tee its log, record wall time and exit code
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s.%N)
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=$?
  local t1; t1=$(date +%s.%N)
  summary "$name: exit $rc, $($PY -c "print(round($t1 - $t0, 1))") s wall"
  [ "$rc" = 0 ] || status=1
}
: > "$OUT/summary.txt"
{ nvidia-smi || true; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } \
  2>&1 | tee "$OUT/device.log"
timed write_data "${GPU_CHECK_WRITE_S:-60}" $PY benchmarks/write_fixture_data.py cifar100 "$WORK/data" --per_class_train $TRAIN --per_class_test $TEST
timed smoke "$SMOKE_S" $PY run.py --preset cifar20 --smoke ${NET[@]+"${NET[@]}"} ${SMOKE_METHODS[@]+"${SMOKE_METHODS[@]}"} --jobs 4 \
  --data_root "$WORK/data" --log_root "$WORK/logs"
cp "$WORK/logs/smoke/launcher/last_summary.json" "$OUT/smoke_summary.json" 2>/dev/null || true
cp "$WORK/logs/smoke/report/report.md" "$OUT/smoke_report.md" 2>/dev/null || true
# the known answers on the learnable synthetic data (pretrained above chance, baseline's ReA AUC near 1, retrain's
# UA 0): the report step fails the sweep when one fails; here they are quoted and a missing section fails too
if grep -q "known answers: [0-9]* pass, 0 fail" "$OUT/smoke_report.md" 2>/dev/null; then
  summary "smoke known answers: $(grep -o 'known answers: .*' "$OUT/smoke_report.md")"
else
  summary "smoke known answers: FAILED or missing ($(grep -o 'known answers: .*' "$OUT/smoke_report.md" 2>/dev/null))"
  status=1
fi
grep -E "^- (PASS|FAIL|NOT RUN) " "$OUT/smoke_report.md" 2>/dev/null | tee -a "$OUT/summary.txt"
timed bench "$BENCH_S" $PY benchmarks/bench_paper_preset.py $QUICK --docs "$OUT/paper_preset.md"
timed pretrain "${GPU_CHECK_PRETRAIN_S:-90}" $PY pretrain_model_cifar20.py ${NET[@]+"${NET[@]}"} --data_root "$WORK/data" --log_root "$WORK/pre" \
  --epochs "$EPOCHS" --quiet
epoch_times() {  # epoch_times NAME LOG_ROOT: copy the run's train_log.tsv to $OUT and summarise its epoch times
  find "$2" -name train_log.tsv -exec cp {} "$OUT/$1_train_log.tsv" \;
  [ -f "$OUT/$1_train_log.tsv" ] || return 0
  $PY - "$1" "$OUT/$1_train_log.tsv" <<'PYEOF' | tee -a "$OUT/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[2]), delimiter="\t"))
t = [float(r["seconds"]) for r in rows]
per = [b - a for a, b in zip([0.0] + t[:-1], t)]
steady = per[1:] or per
print(f"{sys.argv[1]}: {len(rows)} epoch(s), first {per[0]:.1f} s, then {sum(steady) / len(steady):.1f} s/epoch "
      f"(validation included) -> 40 epochs ~ {per[0] + 39 * sum(steady) / len(steady):.0f} s")
PYEOF
}
epoch_times pretrain "$WORK/pre"
if [ "${GPU_CHECK_TINY:-0}" != 1 ]; then  # the same pretraining with the captured step (CUDA graphs)
  timed pretrain_capture "${GPU_CHECK_CAPTURE_S:-240}" $PY pretrain_model_cifar20.py --data_root "$WORK/data" \
    --log_root "$WORK/pre_capture" --epochs "$EPOCHS" --quiet --capture
  epoch_times pretrain_capture "$WORK/pre_capture"
fi
exit $status
