#!/usr/bin/env bash
# The steps of the cipub composite action (action.yml runs `cipub-action.sh install` and
# `cipub-action.sh run`). Every input arrives as an INPUT_* environment variable -- never pasted
# into this script -- and becomes exactly one argv element in a bash array: no eval, no word
# splitting, no globbing except for manifest patterns. Tokens go to a private file passed through
# CIPUB_TOKEN_FILE, never into argv. Needs bash >= 4.4 (GitHub's runners have bash 5).
set -euo pipefail
shopt -s inherit_errexit

# Values echoed into the log are escaped like workflow-command data, so a value can never start a
# line of its own (a line beginning with "::" is a command to the runner).
log_safe() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

# On stderr (the runner reads workflow commands from both streams), then stop the step.
fail() {
  printf '::error title=cipub action::%s\n' "$(log_safe "$1")" >&2
  exit 2
}

# The checks below are called as commands, never inside $(...), so `fail` ends the step.

# One line, or the step fails: a newline would become a second argument, or a workflow command
# of its own when cipub repeats the value in a message.
check_single() {
  case $2 in
    *$'\n'* | *$'\r'*) fail "input '$1' must be a single line" ;;
  esac
}

# A path that reaches rattler-build, which writes paths into its build scripts inside double
# quotes (export SRC_DIR="..."): there $, ` and " would run as code, so they are refused.
check_path() {
  check_single "$1" "$2"
  case $2 in
    *'$'* | *'`'* | *'"'*) fail "input '$1' must not contain \$, \` or \" (paths end up in build scripts)" ;;
  esac
}

check_boolean() {
  case $2 in
    true | false) ;;
    *) fail "input '$1' must be 'true' or 'false'" ;;
  esac
}

# Variant values end up in recipes' build scripts through the recipe's own templates.
check_variant() {
  case $2 in
    *[\$\`\"\'\\\;\&\|\<\>\(\)]*) fail "input '$1' must not contain shell characters (\$\`\"'\\;&|<>())" ;;
  esac
}

# Each non-blank line of a list input, trimmed, into the array named by $2.
read_lines() {
  local -n into=$2
  local line
  into=()
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [ -z "$line" ] || into+=("$line")
  done <<<"$1"
}

install_cipub() {
  local python=${INPUT_PYTHON:-python3} spec=${INPUT_CIPUB_SPEC:-}
  check_single python "$python"
  check_single cipub-spec "$spec"
  if ! command -v -- "$python" >/dev/null 2>&1; then
    if [ "$python" = python3 ] && command -v python >/dev/null 2>&1; then
      python=python # Windows runners name it python
    else
      fail "input 'python': $python is not on PATH (run actions/setup-python first)"
    fi
  fi
  local root=${RUNNER_TEMP:?RUNNER_TEMP is not set}/cipub-action
  local venv=$root/venv source action_root
  if [ -n "$spec" ]; then
    source="pip:$spec"
  else
    # The action's own checkout: cipub at exactly the ref the workflow pinned.
    action_root=$(cd -- "${GITHUB_ACTION_PATH:?}/.." && pwd)
    source="path:$action_root"
  fi
  local exe=$venv/bin/cipub
  [ -d "$venv/Scripts" ] && exe=$venv/Scripts/cipub.exe
  if [ -f "$root/installed" ] && [ "$(cat "$root/installed")" = "$source" ] && [ -x "$exe" ]; then
    echo "cipub already installed in $venv"
  else
    rm -rf -- "$venv"
    mkdir -p -- "$root"
    "$python" -m venv -- "$venv"
    local vpython=$venv/bin/python
    [ -x "$vpython" ] || vpython=$venv/Scripts/python.exe
    "$vpython" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$vpython" -m pip install --quiet --disable-pip-version-check -- "${spec:-$action_root}"
    if [ -n "${INPUT_CONTAINER:-}" ]; then
      # cipub build --container talks to the engine API through the docker SDK (cipub[container])
      "$vpython" -m pip install --quiet --disable-pip-version-check -- "docker>=7"
    fi
    exe=$venv/bin/cipub
    [ -x "$exe" ] || exe=$venv/Scripts/cipub.exe
    printf '%s' "$source" >"$root/installed"
  fi
  "$exe" --version
  printf 'cipub=%s\n' "$exe" >>"${GITHUB_OUTPUT:?}"
}

# --name=VALUE for each line of a list input (each word, for platforms).
add_list() {
  local flag=$1 name=$2 value=$3 item
  local -a items=()
  if [ "$name" = platforms ]; then
    value=${value//,/ }
    value=${value//$'\t'/ }
    value=${value// /$'\n'}
  fi
  read_lines "$value" items
  for item in "${items[@]}"; do
    case $name in
      variants) check_variant variants "$item" ;;
      variant-config) check_path variant-config "$item" ;;
    esac
    args+=("$flag=$item")
  done
}

# --name=VALUE when the single-line input is set.
add_option() {
  check_single "$2" "$3"
  [ -z "$3" ] || args+=("$1=$3")
}

# Manifest patterns (globs, ** allowed) into --manifest options; a pattern matching nothing is
# an error, so a missing build artifact cannot turn into a partial release.
add_manifests() {
  local pattern matched saved_ifs=$IFS
  local -a patterns=() found=()
  read_lines "$1" patterns
  shopt -s nullglob globstar
  for pattern in "${patterns[@]}"; do
    IFS= # no word splitting: only pathname expansion applies to the unquoted pattern
    # shellcheck disable=SC2206 # globbing is intended here
    found=($pattern)
    IFS=$saved_ifs
    [ ${#found[@]} -gt 0 ] || fail "input 'manifest': no file matches $pattern"
    for matched in "${found[@]}"; do
      args+=("--manifest=$matched")
    done
  done
  shopt -u nullglob globstar
}

run_cipub() {
  local cipub=${ACTION_CIPUB:?the install step did not report where cipub is}
  local command=${INPUT_COMMAND:-}
  check_single command "$command"
  case $command in
    plan | build | upload | promote | verify | status | yank) ;;
    *) fail "input 'command' must be one of plan, build, upload, promote, verify, status, yank" ;;
  esac
  local dry_run=${INPUT_DRY_RUN:-false} move=${INPUT_MOVE:-false} upload=${INPUT_UPLOAD:-false}
  check_boolean dry-run "$dry_run"
  check_boolean move "$move"
  check_boolean upload "$upload"

  local workdir=${INPUT_WORKING_DIRECTORY:-.}
  check_path working-directory "$workdir"
  cd -- "$workdir"

  # Settings every command reads from the environment (flags differ from command to command).
  # The input 'channel' was the publish target; it is refused with what changed, never reinterpreted.
  [ -z "${INPUT_CHANNEL:-}" ] || fail "input 'channel' must be empty: it was renamed 'target' (where to publish); dependency channels go in extra-args as -c CHANNEL"
  local target=${INPUT_TARGET:-} api_url=${INPUT_API_URL:-}
  check_single target "$target"
  check_single api-url "$api_url"
  [ -z "$target" ] || export CIPUB_TARGET="$target"
  [ -z "$api_url" ] || export CIPUB_API_URL="$api_url"

  if [ -n "${INPUT_TOKEN:-}" ]; then
    # Masked first, before anything could print it (the runner matches masks line by line).
    local line
    printf '::add-mask::%s\n' "$(log_safe "$INPUT_TOKEN")"
    case $INPUT_TOKEN in
      *$'\n'*)
        while IFS= read -r line; do
          [ -z "$line" ] || printf '::add-mask::%s\n' "$(log_safe "$line")"
        done <<<"$INPUT_TOKEN"
        ;;
    esac
    # A global, not a local: the EXIT trap runs after this function has returned.
    token_file=$(umask 077 && mktemp "${RUNNER_TEMP:-/tmp}/cipub-token.XXXXXXXX")
    trap 'rm -f -- "$token_file"' EXIT
    printf '%s' "$INPUT_TOKEN" >"$token_file"
    export CIPUB_TOKEN_FILE="$token_file"
  fi

  local to_target=${INPUT_TO_TARGET:-}
  check_single to-target "$to_target"
  check_single remove-from "${INPUT_REMOVE_FROM:-}"
  [ -z "$to_target" ] || export CIPUB_TO_TARGET="$to_target"
  if [ -n "${INPUT_TO_TOKEN:-}" ]; then
    # The destination's token: its own masked private file, never mixed with 'token'.
    printf '::add-mask::%s\n' "$(log_safe "$INPUT_TO_TOKEN")"
    case $INPUT_TO_TOKEN in
      *$'\n'*)
        while IFS= read -r line; do
          [ -z "$line" ] || printf '::add-mask::%s\n' "$(log_safe "$line")"
        done <<<"$INPUT_TO_TOKEN"
        ;;
    esac
    to_token_file=$(umask 077 && mktemp "${RUNNER_TEMP:-/tmp}/cipub-to-token.XXXXXXXX")
    trap 'rm -f -- "${token_file:-}" "$to_token_file"' EXIT
    printf '%s' "$INPUT_TO_TOKEN" >"$to_token_file"
    export CIPUB_TO_TOKEN_FILE="$to_token_file"
  fi

  local plan_file=${INPUT_PLAN:-} recipe=${INPUT_RECIPE:-recipe}
  check_path plan "$plan_file"
  local -a args=() positional=()
  case $command in
    plan)
      check_path recipe "$recipe"
      positional=("$recipe")
      args=(plan)
      add_list --platform platforms "${INPUT_PLATFORMS:-}"
      add_list --variant-config variant-config "${INPUT_VARIANT_CONFIG:-}"
      add_list --variant variants "${INPUT_VARIANTS:-}"
      args+=(--format=json "--output=${plan_file:=cipub-plan.json}")
      ;;
    build)
      check_path recipe "$recipe"
      check_path output-dir "${INPUT_OUTPUT_DIR:-}"
      check_path manifest "${INPUT_MANIFEST:-}"
      positional=("$recipe")
      args=(build)
      add_option --plan plan "$plan_file"
      add_option --only only "${INPUT_ONLY:-}"
      add_list --variant-config variant-config "${INPUT_VARIANT_CONFIG:-}"
      add_list --variant variants "${INPUT_VARIANTS:-}"
      add_option --output-dir output-dir "${INPUT_OUTPUT_DIR:-}"
      add_option --container container "${INPUT_CONTAINER:-}"
      add_option --manifest manifest "${INPUT_MANIFEST:-}"
      add_option --build-number build-number "${INPUT_BUILD_NUMBER:-}"
      add_option --label label "${INPUT_LABEL:-}"
      [ "$upload" = true ] || args+=(--no-upload)
      if [ "$upload" = false ] && [ -n "$plan_file" ]; then
        # Build numbers come from the plan and nothing is uploaded, while the recipe's scripts run
        # here: drop the token variables a runner's own environment may carry (self-hosted runners
        # and act's host mode hand theirs to every job). An explicit 'token' input is kept.
        unset ANACONDA_API_TOKEN BINSTAR_API_TOKEN ANACONDA_API_KEY QUETZ_API_KEY PSM_TOKEN \
          ANACONDA_SERVER_TOKEN ARTIFACTORY_TOKEN ARTIFACTORY_PASSWORD PREFIX_API_KEY \
          ACTIONS_ID_TOKEN_REQUEST_TOKEN ACTIONS_ID_TOKEN_REQUEST_URL
      fi
      ;;
    upload)
      args=(upload)
      add_manifests "${INPUT_MANIFEST:-output/cipub-manifest.json}"
      add_option --label label "${INPUT_LABEL:-}"
      ;;
    promote)
      args=(promote)
      # No manifest input: the project's ledger when this job has one (cipub's own default), else
      # the build's manifest (a promote job that downloaded only the manifests).
      if [ -n "${INPUT_MANIFEST:-}" ] || [ ! -d "${INPUT_OUTPUT_DIR:-output}/cipub-ledger" ]; then
        add_manifests "${INPUT_MANIFEST:-output/cipub-manifest.json}"
      fi
      add_option --from from-label "${INPUT_FROM_LABEL:-}"
      add_option --to to-label "${INPUT_TO_LABEL:-}"
      [ "$move" = false ] || args+=(--move)
      ;;
    status)
      # packages: recipes, manifests or package names, one per line (empty: the recipe input)
      args=(status)
      read_lines "${INPUT_PACKAGES:-$recipe}" positional
      add_option --from from-label "${INPUT_FROM_LABEL:-}"
      add_option --to to-label "${INPUT_TO_LABEL:-}"
      ;;
    yank)
      # packages: NAME=VERSION[=BUILD] specs, one per line; or the manifest input
      args=(yank)
      read_lines "${INPUT_PACKAGES:-}" positional
      [ ${#positional[@]} -gt 0 ] || add_manifests "${INPUT_MANIFEST:-dist/cipub-manifest.json}"
      add_option --remove-from remove-from "${INPUT_REMOVE_FROM:-}"
      ;;
    verify)
      args=(ci verify)
      add_manifests "${INPUT_MANIFEST:-output/cipub-manifest.json}"
      add_option --label label "${INPUT_LABEL:-}"
      ;;
  esac
  if [ "$dry_run" = true ]; then
    case $command in
      build | upload | promote | yank) args+=(--dry-run) ;;
      *) fail "input 'dry-run' applies to build, upload, promote and yank" ;;
    esac
  fi
  local -a extra=()
  read_lines "${INPUT_EXTRA_ARGS:-}" extra
  args+=("${extra[@]}")
  # Options are written --name=VALUE and positionals come after "--": whatever a value starts
  # with, it cannot be read as another option.
  [ ${#positional[@]} -eq 0 ] || args+=(-- "${positional[@]}")

  printf 'cipub'
  printf ' %q' "${args[@]}"
  printf '\n'
  "$cipub" "${args[@]}"
  if [ "$command" = plan ]; then
    # Outputs (matrix, ids, build numbers) and the summary table, from the plan just written.
    "$cipub" ci report-plan -- "$plan_file"
  fi
}

case ${1:-} in
  install) install_cipub ;;
  run) run_cipub ;;
  *)
    echo "usage: cipub-action.sh install|run" >&2
    exit 2
    ;;
esac
