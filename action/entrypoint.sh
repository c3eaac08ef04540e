#!/usr/bin/env bash
# The action's entry point: turns the action's inputs (INPUT_* variables, set by action.yml) into
# one regtidy command over every repository, and maps its exit status for a nightly job.
# regtidy itself writes the step outputs and the job summary when GITHUB_ACTIONS=true.
#
# Exit status: 0 when regtidy finished, and also when it stopped at its budget or deadline or some
# deletes failed (regtidy's exit 3): the next night continues, so the job stays green and says so
# in a notice. Any other failure (bad policy, a source that failed to load, a refused plan) fails
# the step.
set -uo pipefail

bin="${REGTIDY_BIN:-regtidy}"
mode="${INPUT_MODE:-plan}"
plans="${INPUT_PLANS:-regtidy-plans}"
state="${INPUT_STATE:-}"
[ -n "$state" ] || state="${GITHUB_WORKSPACE:-.}/regtidy-state"

read -r -d '' -a repos <<<"${INPUT_REPOSITORIES:-}" || true
if [ "${#repos[@]}" -eq 0 ]; then
  echo "::error title=regtidy::the repositories input is empty"
  exit 2
fi

args=()
case "$mode" in
  report) args=(report "${repos[@]}") ;;
  plan) args=(plan "${repos[@]}" --out "$plans") ;;
  prune)
    args=(prune "${repos[@]}" --out "$plans")
    case "${INPUT_DRY_RUN:-true}" in
      false|False|FALSE|no|0) args+=(--yes) ;;
      *) ;;
    esac
    ;;
  *) echo "::error title=regtidy::mode ${mode}: want report, plan or prune"; exit 2 ;;
esac
if [ -n "${INPUT_POLICY:-}" ]; then
  args+=(--policy "$INPUT_POLICY")
elif [ "$mode" != report ]; then
  echo "::error title=regtidy::mode ${mode} needs the policy input"
  exit 2
fi
args+=(--state "$state")
[ "${INPUT_HOURLY_BUDGET:-0}" = 0 ] || args+=(--hourly-budget "$INPUT_HOURLY_BUDGET")
[ "${INPUT_MAX_REQUESTS:-0}" = 0 ] || args+=(--max-requests "$INPUT_MAX_REQUESTS")
[ -z "${INPUT_DEADLINE:-}" ] || args+=(--deadline "$INPUT_DEADLINE")
if [ -n "${INPUT_ARGS:-}" ]; then
  read -r -a extra <<<"$INPUT_ARGS"
  args+=("${extra[@]}")
fi

if [ "$mode" != report ] && [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "plans=$plans" >>"$GITHUB_OUTPUT"
fi

echo "regtidy ${args[*]}"
"$bin" "${args[@]}"
rc=$?
if [ "$rc" -eq 3 ]; then
  echo "::notice title=regtidy::work is left (budget, deadline or failed deletes); the next run continues where this one stopped"
  exit 0
fi
exit "$rc"
