# Sourced by the device scripts (bench/gpu/*.sh): what each does before its first command.
# unpack_skeleton XZ DEST: the carried static binary, unpacked and made executable.
unpack_skeleton() { xz -dc "$1" > "$2" && chmod +x "$2" || { echo "no $1 (carry it)"; exit 3; }; }
# join_model OUT SHA256 PART...: the model from its parts, refused unless its sha256 is SHA256.
join_model() {
  local out=$1 want=$2; shift 2
  cat "$@" > "$out" || { echo "a model part is missing (a call lost?)"; exit 3; }
  local sha; sha=$(sha256sum "$out" | cut -d' ' -f1)
  [ "$sha" = "$want" ] || { echo "model sha256 $sha differs from $want (a part is truncated or stale)"; exit 4; }
}
# join_gemma DIR PART04: Gemma-3 270M (setup.sh --gemma's sha256) as DIR/model.gguf from DIR/model.part00..03 (the
# back-to-back part calls) and PART04 (carried with the command).
join_gemma() {
  join_model "$1/model.gguf" a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
    "$1/model.part00" "$1/model.part01" "$1/model.part02" "$1/model.part03" "$2"
}
# use_cublas: SKELETON_CUBLAS from the machine's torch wheel or CUDA toolkit, unless already set.
use_cublas() {
  if [ -z "${SKELETON_CUBLAS:-}" ]; then
    SKELETON_CUBLAS=$(ls /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libcublas.so.13 /usr/local/cuda/lib64/libcublas.so.1* 2>/dev/null | head -1)
    [ -n "$SKELETON_CUBLAS" ] && export SKELETON_CUBLAS
  fi
  return 0
}
