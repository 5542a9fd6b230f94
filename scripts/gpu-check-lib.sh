# Helpers of scripts/gpu-check, sourced by it (not run alone): the records
# behind the summary, section timing and the time budget, background
# processes and their cleanup, GPU memory sampling, binary lookup, and the
# markdown summary. They read the variables gpu-check sets before sourcing:
# res, records, work, budget, T0, py, gpu_index, target.
# shellcheck shell=bash
failures=0
rec() { # fields… → one tab-separated line of records.tsv
  local IFS=$'\t'
  echo "$*" >> "$records"
}
fail() {
  failures=$((failures + 1))
  echo "FAILED: $*" >&2
  rec fail "$*"
}
elapsed() { echo $(($(date +%s) - T0)); }
left() { echo $((budget - $(elapsed))); }
cap() { # N → N, or what is left of the budget if less (at least 30 s)
  local l
  l=$(left)
  if [ "$budget" = 0 ] || [ "$l" -ge "$1" ]; then echo "$1"; elif [ "$l" -gt 30 ]; then echo "$l"; else echo 30; fi
}
section_start=""
section() {
  local now
  now=$(date +%s)
  [ -n "$section_start" ] && echo "-- section took $((now - section_start)) s"
  section_start=$now
  echo
  echo "== [$(date +%H:%M:%S) +$((now - T0)) s] $*"
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
kv() { # kv KEY LINE → the value of KEY=… in a RESULT line
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2" | head -1
}

# Background processes this script started (the nvidia-smi sampler, the
# gallery farm): ended on exit or interruption, each by its own id.
sampler=""
child=""
farm_pids=()
# fg CMD…: CMD in the background, waited for, so that an INT or TERM to this
# script interrupts the wait (and ends CMD) at once.
fg() {
  local rc
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  child=""
  return "$rc"
}
stop() { # PID…: TERM, then KILL after 10 s
  local p i
  [ $# -gt 0 ] || return 0
  kill "$@" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    for p in "$@"; do kill -0 "$p" 2>/dev/null && break; p=""; done
    [ -z "$p" ] && break
    sleep 0.2
  done
  kill -9 "$@" 2>/dev/null
  for p in "$@"; do wait "$p" 2>/dev/null; done
}
cleanup() {
  [ -n "$child" ] && stop "$child"
  child=""
  [ -n "$sampler" ] && stop "$sampler"
  stop "${farm_pids[@]}"
  sampler=""
  farm_pids=()
}
# The script's own stdout and stderr, for the trap: it may run while a
# command's output is redirected to a log.
exec 3>&1 4>&2
interrupted() {
  echo "gpu-check: interrupted after $(elapsed) s; the summary so far:" >&4
  cleanup
  rm -rf "$work"
  summary 2>&4 | tee "$res/summary.md" >&3
  exit 130
}
trap interrupted INT TERM

# GPU memory in use (MiB) on the GPU, now.
smi_used() {
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" 2>/dev/null | head -1 | tr -dc '0-9'
}

# measured TAG TIMEOUT CMD…: runs CMD (stdout → $res/TAG.out, stderr →
# $res/TAG.err) under `timeout`, sampling nvidia-smi every 100 ms meanwhile.
# Sets m_rc, m_line (its RESULT line, if any), m_smi (peak MiB above the value
# before the start; empty without nvidia-smi) and m_wall (seconds).
measured() {
  local tag=$1 limit=$2 base peak t0 t1
  shift 2
  base=$(smi_used)
  : > "$res/$tag.smi"
  if [ -n "$base" ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" -lms 100 \
      > "$res/$tag.smi" 2>/dev/null &
    sampler=$!
  fi
  t0=$(date +%s.%N)
  fg timeout -k 10 "$limit" "$@" > "$res/$tag.out" 2> "$res/$tag.err"
  m_rc=$?
  t1=$(date +%s.%N)
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    sampler=""
  fi
  m_wall=$(calc %.2f "$t1 - $t0")
  peak=$(tr -dc '0-9\n' < "$res/$tag.smi" | sort -n | tail -1)
  m_smi=""
  [ -n "$base" ] && [ -n "$peak" ] && m_smi=$((peak - base))
  m_line=$(grep '^RESULT' "$res/$tag.out" | tail -1)
  if [ "$m_rc" = 124 ] || [ "$m_rc" = 137 ]; then
    echo "   (timed out after $limit s; see $res/$tag.err)" >&2
  elif [ "$m_rc" != 0 ]; then
    echo "   (exit $m_rc; last lines of $res/$tag.err:)" >&2
    tail -5 "$res/$tag.err" | sed 's/^/   | /' >&2
  fi
  return "$m_rc"
}

# The newest executable among the paths given (unmatched globs are skipped).
newest() {
  local f best=""
  for f in "$@"; do
    [[ -f $f && -x $f && $f != *.d && $f != *.so && $f != *.rlib ]] || continue
    if [[ -z $best || $f -nt $best ]]; then best=$f; fi
  done
  printf '%s' "$best"
}
find_bin() { # NAME: a test or bench binary
  newest "$target"/release/deps/"$1"-* "$target"/debug/deps/"$1"-* "$target"/"$1"-* "$target"/"$1"
}

# The summary: markdown, from records.tsv.
summary() {
  "$spy" - "$records" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def f(x, fmt):
    try:
        return fmt.format(float(x))
    except (TypeError, ValueError):
        return x or "–"
env = [r for r in rows if r[0] == "env"]
print("### scripts/gpu-check")
print()
for r in env:
    print(f"- {r[1]}: {r[2] if len(r) > 2 else ''}")
tests = [r for r in rows if r[0] == "test"]
if tests:
    print()
    print("| engine test binary on cuda:0 | result |")
    print("|---|---|")
    for r in tests:
        print(f"| {r[1]} | {r[2]}{': ' + r[3] if len(r) > 3 and r[3] else ''} |")
bench = {}
for r in rows:
    if r[0] == "bench":
        _, size, opt, pairing, side, med, alloc, smi, status = (r + [""] * 9)[:9]
        bench[(int(size), opt, pairing, side)] = (med, alloc, smi, status)
if bench:
    order = {"fp32": 0, "tf32": 1, "bf16": 2}
    keys = sorted({k[:3] for k in bench}, key=lambda k: (k[0], k[1] != "lbfgs", order.get(k[2], 9)))
    print()
    print("| size (h×w) | optimiser | pairing | engine s/it | PyTorch s/it | ratio | target ≤ 1.0 "
          "| engine peak MiB (nvidia-smi) | PyTorch peak MiB (allocated) | PyTorch peak MiB (nvidia-smi) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, opt, pairing in keys:
        e = bench.get((size, opt, pairing, "engine"), ("", "", "", "missing"))
        p = bench.get((size, opt, pairing, "pytorch"), ("", "", "", "missing"))
        try:
            ratio = float(e[0]) / float(p[0])
            r, ok = f"{ratio:.2f}", ("yes" if ratio <= 1.0 else "**no**")
        except (TypeError, ValueError, ZeroDivisionError):
            r, ok = "–", "–"
        es = f(e[0], "{:.4f}") if e[3] == "ok" else e[3]
        ps = f(p[0], "{:.4f}") if p[3] == "ok" else p[3]
        label = {"fp32": "fp32 (TF32 off)", "tf32": "tf32 (channels_last)", "bf16": "bf16 (autocast)"}.get(pairing, pairing)
        print(f"| {size * 3 // 4}×{size} | {opt} | {label} | {es} | {ps} | {r} | {ok} "
              f"| {f(e[2], '{:.0f}')} | {f(p[1], '{:.0f}')} | {f(p[2], '{:.0f}')} |")
other = [r for r in rows if r[0] in ("render", "untiled", "highres", "gallery")]
if other:
    print()
    print("| check | result | target | met |")
    print("|---|---|---|---|")
    for r in other:
        r = r + [""] * 8
        if r[0] == "render":
            # render wall target status note
            print(f"| end to end: `stylefarm render` 512 px, {r[5]} iterations, {r[6]} | {f(r[1], '{:.1f}')} s wall "
                  f"| ≤ {f(r[2], '{:.1f}')} s | {r[3]} |")
        elif r[0] == "untiled":
            print(f"| largest untiled (engine's default precision, Adam, first iteration) | {r[1]} | – | {r[2]} |")
        elif r[0] == "highres":
            print(f"| highres 4096 px, tiled | {r[1]} | – | {r[2]} |")
        elif r[0] == "gallery":
            # gallery pairs grid wall pph status note
            print(f"| gallery {r[2]} = {r[1]} pictures, 512 px, {r[7]} iterations, 1 worker | {f(r[3], '{:.1f}')} s, "
                  f"{f(r[4], '{:.0f}')} pictures/hour{' (' + r[6] + ')' if r[6] else ''} | ≥ 5000 pictures/hour | {r[5]} |")
fails = [r[1] for r in rows if r[0] == "fail"]
print()
print(f"Failures: {len(fails)}")
for x in fails:
    print(f"- {x}")
PY
}
checkpoint() { summary > "$res/summary.md" 2>/dev/null; }
