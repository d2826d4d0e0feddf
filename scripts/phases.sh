# Phase timing for scripts/test and .ci/run (sourced, not run). `phase NAME command…` runs the command and
# records how many seconds it took in $PORTICO_PHASES (a file shared by the scripts of one run);
# `print_phases` prints the table. A failed phase is recorded as failed, and the caller stops as usual.

if [ -z "${PORTICO_PHASES:-}" ]; then
  PORTICO_PHASES=$(mktemp)
  export PORTICO_PHASES
  PORTICO_PHASES_OWNER=$$
fi

phase() {
  local name=$1
  shift
  echo "== $name"
  local start=$SECONDS status=0
  "$@" || status=$?
  local took=$((SECONDS - start))
  if [ "$status" = 0 ]; then
    printf '%s\t%s\tok\n' "$name" "$took" >>"$PORTICO_PHASES"
  else
    printf '%s\t%s\tFAILED\n' "$name" "$took" >>"$PORTICO_PHASES"
  fi
  return "$status"
}

print_phases() {
  [ -s "$PORTICO_PHASES" ] || return 0
  echo
  echo "== phases (seconds)"
  awk -F'\t' '{ printf "%-44s %6d  %s\n", $1, $2, ($3 == "ok" ? "" : $3); total += $2 }
    END { printf "%-44s %6d\n", "total", total }' "$PORTICO_PHASES"
}
