#!/usr/bin/env bash
# The steps of the cipub composite action (action.yml runs `cipub-action.sh install` and
# `cipub-action.sh run`). Every input arrives as an INPUT_* environment variable -- never pasted
# into this script -- and becomes exactly one argv element in a bash array: no eval, no word
# splitting, no globbing except for manifest patterns. Tokens go to a private file passed through
# CIPUB_TOKEN_FILE, never into argv.
set -euo pipefail

# Values echoed into the log are escaped like workflow-command data, so a value can never start a
# line of its own (a line beginning with "::" is a command to the runner).
log_safe() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

fail() {
  printf '::error title=cipub action::%s\n' "$(log_safe "$1")"
  exit 2
}

# A single-value input: one line, or the step fails (a newline would be a second argument or a
# workflow command in cipub's messages).
single() {
  local name=$1 value=$2
  case $value in
    *$'\n'* | *$'\r'*) fail "input '$name' must be a single line" ;;
  esac
  printf '%s' "$value"
}

boolean() {
  local name=$1 value=$2
  case $value in
    true | false) printf '%s' "$value" ;;
    *) fail "input '$name' must be 'true' or 'false'" ;;
  esac
}

# Each non-blank line of a list input, trimmed. (The caller reads them into an array.)
lines_of() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [ -n "$line" ] && printf '%s\n' "$line"
  done <<<"$1"
}

install_cipub() {
  local python=${INPUT_PYTHON:-python3} spec=${INPUT_CIPUB_SPEC:-}
  python=$(single python "$python")
  spec=$(single cipub-spec "$spec")
  if ! command -v -- "$python" >/dev/null 2>&1; then
    if [ "$python" = python3 ] && command -v python >/dev/null 2>&1; then
      python=python # Windows runners name it python
    else
      fail "input 'python': $(log_safe "$python") is not on PATH (run actions/setup-python first)"
    fi
  fi
  local root=${RUNNER_TEMP:?RUNNER_TEMP is not set}/cipub-action
  local venv=$root/venv source
  if [ -n "$spec" ]; then
    source="pip:$spec"
  else
    # The action's own checkout: cipub at exactly the ref the workflow pinned.
    source="path:$(cd -- "${GITHUB_ACTION_PATH:?}/.." && pwd)"
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
    if [ -n "$spec" ]; then
      "$vpython" -m pip install --quiet --disable-pip-version-check -- "$spec"
    else
      "$vpython" -m pip install --quiet --disable-pip-version-check -- "${source#path:}"
    fi
    exe=$venv/bin/cipub
    [ -x "$exe" ] || exe=$venv/Scripts/cipub.exe
    printf '%s' "$source" >"$root/installed"
  fi
  "$exe" --version
  printf 'cipub=%s\n' "$exe" >>"${GITHUB_OUTPUT:?}"
}

# Expand manifest patterns (globs, ** allowed) into --manifest options; a pattern matching nothing
# is an error, so a missing build artifact cannot turn into a partial release.
add_manifests() {
  local pattern matched saved_ifs=$IFS
  local -a patterns=() found=()
  mapfile -t patterns < <(lines_of "$1")
  shopt -s nullglob globstar
  for pattern in "${patterns[@]}"; do
    IFS= # no word splitting: only pathname expansion applies to the unquoted pattern
    # shellcheck disable=SC2206 # globbing is intended here
    found=($pattern)
    IFS=$saved_ifs
    [ ${#found[@]} -gt 0 ] || fail "input 'manifest': no file matches $(log_safe "$pattern")"
    for matched in "${found[@]}"; do
      args+=("--manifest=$matched")
    done
  done
  shopt -u nullglob globstar
}

add_list() { # add_list FLAG INPUT_NAME VALUE: FLAG ITEM for each line (or word, for platforms)
  local flag=$1 name=$2 value=$3 item
  local -a items=()
  if [ "$name" = platforms ]; then
    value=${value//,/ }
    value=${value//$'\t'/ }
    value=${value// /$'\n'}
  fi
  mapfile -t items < <(lines_of "$value")
  for item in "${items[@]}"; do
    args+=("$flag=$item")
  done
}

add_option() { # add_option FLAG INPUT_NAME VALUE: FLAG VALUE when VALUE is set
  local flag=$1 name=$2 value
  value=$(single "$name" "$3")
  [ -n "$value" ] && args+=("$flag=$value")
  return 0
}

run_cipub() {
  local cipub=${ACTION_CIPUB:?the install step did not report where cipub is}
  local command
  command=$(single command "${INPUT_COMMAND:-}")
  case $command in
    plan | build | upload | promote | verify) ;;
    *) fail "input 'command' must be one of plan, build, upload, promote, verify" ;;
  esac
  local dry_run move upload
  dry_run=$(boolean dry-run "${INPUT_DRY_RUN:-false}")
  move=$(boolean move "${INPUT_MOVE:-false}")
  upload=$(boolean upload "${INPUT_UPLOAD:-false}")

  local workdir
  workdir=$(single working-directory "${INPUT_WORKING_DIRECTORY:-.}")
  cd -- "${workdir:-.}"

  # Settings that every command reads from the environment (flags would differ per command).
  local channel api_url
  channel=$(single channel "${INPUT_CHANNEL:-}")
  api_url=$(single api-url "${INPUT_API_URL:-}")
  [ -n "$channel" ] && export CIPUB_CHANNEL="$channel"
  [ -n "$api_url" ] && export CIPUB_API_URL="$api_url"

  if [ -n "${INPUT_TOKEN:-}" ]; then
    # Masked first, before anything could print it (the runner matches masks line by line).
    local line
    printf '::add-mask::%s\n' "$(log_safe "$INPUT_TOKEN")"
    case $INPUT_TOKEN in
      *$'\n'*)
        while IFS= read -r line; do
          [ -n "$line" ] && printf '::add-mask::%s\n' "$(log_safe "$line")"
        done <<<"$INPUT_TOKEN"
        ;;
    esac
    # A global, not a local: the EXIT trap runs after this function has returned.
    token_file=$(umask 077 && mktemp "${RUNNER_TEMP:-/tmp}/cipub-token.XXXXXXXX")
    trap 'rm -f -- "$token_file"' EXIT
    printf '%s' "$INPUT_TOKEN" >"$token_file"
    export CIPUB_TOKEN_FILE="$token_file"
  fi

  local plan_file
  plan_file=$(single plan "${INPUT_PLAN:-}")
  local -a args=() positional=()
  case $command in
    plan)
      args=(plan)
      positional=("$(single recipe "${INPUT_RECIPE:-recipe}")")
      add_list --platform platforms "${INPUT_PLATFORMS:-}"
      add_list --variant-config variant-config "${INPUT_VARIANT_CONFIG:-}"
      add_list --variant variants "${INPUT_VARIANTS:-}"
      plan_file=${plan_file:-cipub-plan.json}
      args+=(--format=json "--output=$plan_file")
      ;;
    build)
      args=(build)
      positional=("$(single recipe "${INPUT_RECIPE:-recipe}")")
      add_option --plan plan "$plan_file"
      add_option --only only "${INPUT_ONLY:-}"
      add_list --variant-config variant-config "${INPUT_VARIANT_CONFIG:-}"
      add_list --variant variants "${INPUT_VARIANTS:-}"
      add_option --output-dir output-dir "${INPUT_OUTPUT_DIR:-}"
      add_option --manifest manifest "${INPUT_MANIFEST:-}"
      add_option --build-number build-number "${INPUT_BUILD_NUMBER:-}"
      add_option --label label "${INPUT_LABEL:-}"
      [ "$upload" = true ] || args+=(--no-upload)
      ;;
    upload)
      args=(upload)
      add_manifests "${INPUT_MANIFEST:-dist/cipub-manifest.json}"
      add_option --label label "${INPUT_LABEL:-}"
      ;;
    promote)
      args=(promote)
      add_manifests "${INPUT_MANIFEST:-dist/cipub-manifest.json}"
      add_option --from from-label "${INPUT_FROM_LABEL:-}"
      add_option --to to-label "${INPUT_TO_LABEL:-}"
      [ "$move" = true ] && args+=(--move)
      ;;
    verify)
      args=(ci verify)
      add_manifests "${INPUT_MANIFEST:-dist/cipub-manifest.json}"
      add_option --label label "${INPUT_LABEL:-}"
      ;;
  esac
  if [ "$dry_run" = true ]; then
    case $command in
      build | upload | promote) args+=(--dry-run) ;;
      *) fail "input 'dry-run' applies to build, upload and promote" ;;
    esac
  fi
  local -a extra=()
  mapfile -t extra < <(lines_of "${INPUT_EXTRA_ARGS:-}")
  args+=("${extra[@]}")
  # Options are written --name=value and positionals come after "--": no value can be taken
  # for an option, whatever it starts with.
  [ ${#positional[@]} -eq 0 ] || args+=(-- "${positional[@]}")

  printf 'cipub'
  printf ' %q' "${args[@]}"
  printf '\n'
  "$cipub" "${args[@]}"
  if [ "$command" = plan ]; then
    # Outputs (matrix, ids, build numbers) and the summary table, from the plan just written.
    "$cipub" ci report-plan "$plan_file"
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
