# The u32 bucket's carry (core/hotpath.h mms__hist_bucket_inc): on
# x86-64 an asm block moves %rsp below the red zone, pushes its three
# operands and calls mms__hist_carry_stub. The field operand is a memory
# operand ("m"): if the compiler ever addressed it relative to %rsp (a
# view kept on the stack), the push would read the wrong word after the
# move, and only a bucket's 2^32nd value would show it. This reads the
# built code: at every call of the stub, the pushes take no
# %rsp-relative operand, the red zone is stepped over first, and %rsp
# is 152 bytes down at the call (128 and three pushes left), as the
# stub's CFI says (core/hotpath.c): else a backtrace from inside the
# carry goes wrong (test_carry_unwind).
. "$(dirname "$0")/lib.sh"
if [ "$(uname -m)" != x86_64 ] ||
    grep -Eq '^CMAKE_C_FLAGS[A-Z_]*:[A-Z]+=.*-fsanitize=[a-z,]*thread' \
        "$B/CMakeCache.txt" 2>/dev/null; then
    echo "SKIP: the carry's asm is built on x86-64 only, and not under TSan"
    exit 77
fi
skip_without objdump "binutils"
libs=("$PRELOAD" "$(find "$B/core" -name 'libmmstats.so*' -type f | head -1)")
sites=0
for lib in "${libs[@]}"; do
    # The 12 instructions before each call of the stub, one block each.
    blocks=$(objdump -d --no-show-raw-insn "$lib" |
        grep -B12 'call.*<mms__hist_carry_stub>' || true)
    n=$(grep -c 'call.*<mms__hist_carry_stub>' <<<"$blocks" || true)
    sites=$((sites + n))
    bad=$(awk '/lea +-0x80\(%rsp\),%rsp/ {inside = 1; left = 0; next}
               /call.*<mms__hist_carry_stub>/ {
                   if (!inside) print "no red-zone step before " $0
                   else if (left != 3) print left " pushes left at " $0
                   inside = 0; next }
               inside && /push.*%[re]?sp/ {print}
               inside && /\tpush/ {left++}
               inside && /\tpop/ {left--}' <<<"$blocks")
    expect_eq "$bad" "" "$(basename "$lib"): pushes relative to %rsp, no red-zone step, or %rsp not 152 bytes down"
done
# The shim's timed hooks inline the record: the asm must be there.
expect_match "$sites" '^[1-9][0-9]*$' "calls of mms__hist_carry_stub found"
finish
