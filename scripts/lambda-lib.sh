# shellcheck shell=bash
# scripts/lambda-lib.sh: what scripts/package-lambda and scripts/lambda-e2e share (sourced, not run).
#
# The caller sets ROOT (the repository) and SCRIPT_NAME (for messages) and runs with
# `set -euo pipefail`.

LAMBDA_VENV="$ROOT/.venv-lambda"
LAMBDA_REQUIREMENTS="$ROOT/scripts/requirements-lambda.txt"
# Cargo's files for the Lambda build (see scripts/package-lambda for why not target/).
LAMBDA_TARGET_DIR="$ROOT/target/lambda-build"
# Where cargo-lambda puts the package: $LAMBDA_DIR/stockrun/bootstrap.zip.
LAMBDA_DIR="$ROOT/target/lambda"
LAMBDA_ZIP="$LAMBDA_DIR/stockrun/bootstrap.zip"
# The cargo profile of the Lambda build: Cargo.toml's [profile.lambda] (size first).
LAMBDA_PROFILE="lambda"
# The same binary as the zip's bootstrap (stripped), runnable on an x86_64 Linux host.
LAMBDA_BOOTSTRAP="$LAMBDA_TARGET_DIR/x86_64-unknown-linux-gnu/$LAMBDA_PROFILE/stockrun"

header() {
    printf '\n==> %s\n' "$*"
}

die() {
    printf '%s: error: %s\n' "${SCRIPT_NAME:-${0##*/}}" "$1" >&2
    shift
    local line
    for line in "$@"; do
        printf '  %s\n' "$line" >&2
    done
    exit 1
}

check_python() {
    command -v python3 >/dev/null 2>&1 ||
        die "python3 not found on PATH (Python 3.10 or newer with venv and pip; CI uses 3.11)." \
            "Debian/Ubuntu: apt-get install python3 python3-venv python3-pip" \
            "macOS:         brew install python@3.11"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "python3 is $(python3 --version 2>&1); ministack and the driver need Python 3.10 or newer."
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ||
        die "python3 cannot create virtual environments with pip (venv/ensurepip missing)." \
            "Debian/Ubuntu: apt-get install python3-venv"
}

# Hash of what the venv is built from: the lock file and the interpreter that runs it.
lambda_venv_stamp() {
    python3 - "$LAMBDA_REQUIREMENTS" <<'PY'
import hashlib, sys
h = hashlib.sha256()
h.update(sys.version.encode())
h.update(sys.executable.encode())
with open(sys.argv[1], "rb") as f:
    h.update(f.read())
print(h.hexdigest())
PY
}

# .venv-lambda: ministack, cargo-lambda (+ zig from the `ziglang` package), boto3, PyYAML.
ensure_lambda_venv() {
    [[ -f "$LAMBDA_REQUIREMENTS" ]] || die "$LAMBDA_REQUIREMENTS is missing."
    local want have=""
    want="$(lambda_venv_stamp)"
    if [[ -f "$LAMBDA_VENV/.stamp" ]]; then
        have="$(<"$LAMBDA_VENV/.stamp")"
    fi
    if [[ "$want" == "$have" && -x "$LAMBDA_VENV/bin/python" ]]; then
        echo "up to date: $LAMBDA_VENV"
    else
        echo "building $LAMBDA_VENV from $LAMBDA_REQUIREMENTS"
        rm -rf "$LAMBDA_VENV"
        python3 -m venv "$LAMBDA_VENV" ||
            die "python3 -m venv failed." "Debian/Ubuntu: apt-get install python3-venv"
        # The lock pins every package with hashes; --require-hashes rejects anything else.
        "$LAMBDA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            --require-hashes -r "$LAMBDA_REQUIREMENTS" ||
            die "pip install -r $LAMBDA_REQUIREMENTS failed (see pip's message above)." \
                "It needs access to PyPI. Retry, or delete $LAMBDA_VENV and rerun."
        # Written last, so an interrupted install is redone on the next run.
        echo "$want" >"$LAMBDA_VENV/.stamp"
    fi
    local tool
    for tool in cargo-lambda ministack; do
        [[ -x "$LAMBDA_VENV/bin/$tool" ]] ||
            die "$tool is missing from $LAMBDA_VENV/bin." \
                "$LAMBDA_REQUIREMENTS pins it; rebuild the venv: rm -rf $LAMBDA_VENV and rerun."
    done
    # cargo-lambda finds zig (python-zig) and itself as a cargo subcommand on PATH. Only for the
    # cargo commands: python3 must stay the system one (the venv's stamp is about that python).
    PATH="$LAMBDA_VENV/bin:$PATH" cargo lambda --version >/dev/null 2>&1 ||
        die "\`cargo lambda --version\` fails although $LAMBDA_VENV/bin/cargo-lambda exists." \
            "Rebuild the venv: rm -rf $LAMBDA_VENV and rerun."
}

# The package target/lambda/stockrun/bootstrap.zip, built with `--profile lambda`. Cargo decides
# what is stale, so an unchanged tree costs a few seconds. Run ensure_lambda_venv first.
build_lambda_zip() {
    grep -q "^\[profile\.$LAMBDA_PROFILE\]" "$ROOT/Cargo.toml" ||
        die "Cargo.toml has no [profile.$LAMBDA_PROFILE] (the Lambda build's profile)."
    local locked=()
    if [[ -f "$ROOT/Cargo.lock" ]]; then
        locked=(--locked)
    fi
    # cargo-lambda 1.9.2 hands `--target-dir` to `cargo metadata`, which rejects it: use the
    # environment variable instead. Its own release defaults (thin LTO, ...) apply to
    # profile.release only; [profile.lambda] sets every one of them itself.
    header "cargo lambda build --profile $LAMBDA_PROFILE ${locked[*]} --output-format zip --bin stockrun (CARGO_TARGET_DIR=${LAMBDA_TARGET_DIR#"$ROOT"/})"
    local started=$SECONDS
    rm -f "$LAMBDA_ZIP"
    (cd "$ROOT" && PATH="$LAMBDA_VENV/bin:$PATH" CARGO_TARGET_DIR="$LAMBDA_TARGET_DIR" \
        cargo lambda build --profile "$LAMBDA_PROFILE" "${locked[@]}" \
        --output-format zip --bin stockrun --lambda-dir "$LAMBDA_DIR") ||
        die "cargo lambda build failed (see the compiler's messages above)." \
            "The same tree must build with \`cargo build --profile $LAMBDA_PROFILE --locked\`."
    [[ -f "$LAMBDA_ZIP" ]] ||
        die "cargo lambda build succeeded but wrote no $LAMBDA_ZIP." \
            "Look for bootstrap.zip under $LAMBDA_DIR: cargo-lambda may have changed its layout."
    [[ -x "$LAMBDA_BOOTSTRAP" ]] ||
        die "cargo lambda build succeeded but there is no $LAMBDA_BOOTSTRAP."
    echo "built $LAMBDA_ZIP in $((SECONDS - started)) s: zip $(du -h "$LAMBDA_ZIP" | cut -f1), bootstrap $(du -h "$LAMBDA_BOOTSTRAP" | cut -f1)"
}
