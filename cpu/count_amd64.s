//go:build amd64 && !purego

#include "textflag.h"

// Row kernels: for r in [0, rows), for u in [0, rowLen) step 8:
//   acc[u:u+8] += (x[r][u:u+8] > t) ? -1 : 0       (so acc = -count)
//   any |= isnan(x[r][u:u+8])
// rowLen is a multiple of 8; rows are stride bytes apart. Returns any != 0.
// LOADn(off, V) loads 8 elements at element index AX + off/4 as float32.

#define STEP(aoff, V, C) \
	VCMPPS    $0x1e, Y15, V, C; \
	VCMPPS    $3, V, V, V; \
	VORPS     V, Y14, Y14; \
	VPADDD    aoff(DI)(AX*4), C, C; \
	VMOVDQU   C, aoff(DI)(AX*4)

#define PROLOGUE \
	MOVQ         x+0(FP), SI; \
	MOVQ         rows+8(FP), CX; \
	MOVQ         rowLen+16(FP), DX; \
	MOVQ         stride+24(FP), R8; \
	VBROADCASTSS t+32(FP), Y15; \
	MOVQ         acc+40(FP), DI; \
	VXORPS       Y14, Y14, Y14; \
	MOVQ         DX, R9; \
	ANDQ         $~31, R9

#define EPILOGUE \
	VPTEST  Y14, Y14; \
	SETNE   ret+48(FP); \
	VZEROUPPER; \
	RET

// Fused count and patterns: the row kernels' work, and each vector's fired
// mask (VMOVMSKPS, 8 units) stored as one byte of the row's pattern bits:
// row r's bits at out + r*outStride, byte u/8 for unit u. LOAD4 loads 32
// elements at element index AX into Y0..Y3 as float32, LOAD1 8 into Y0.
#define STEPB(aoff, V, C, boff) \
	VCMPPS    $0x1e, Y15, V, C; \
	VMOVMSKPS C, R13; \
	MOVB      R13, boff(R11)(BX*1); \
	VCMPPS    $3, V, V, V; \
	VORPS     V, Y14, Y14; \
	VPADDD    aoff(DI)(AX*4), C, C; \
	VMOVDQU   C, aoff(DI)(AX*4)

#define ROWSBITS(LOAD4, LOAD1) \
	PROLOGUE; \
	MOVQ  out+48(FP), R11; \
	MOVQ  outStride+56(FP), R12; \
	TESTQ CX, CX; \
	JZ    done; \
row: \
	XORQ AX, AX; \
	XORQ BX, BX; \
	CMPQ R9, $0; \
	JE   tail; \
loop4: \
	LOAD4; \
	STEPB(0, Y0, Y4, 0); \
	STEPB(32, Y1, Y5, 1); \
	STEPB(64, Y2, Y6, 2); \
	STEPB(96, Y3, Y7, 3); \
	ADDQ $32, AX; \
	ADDQ $4, BX; \
	CMPQ AX, R9; \
	JL   loop4; \
tail: \
	CMPQ AX, DX; \
	JGE  next; \
	LOAD1; \
	STEPB(0, Y0, Y4, 0); \
	ADDQ $8, AX; \
	INCQ BX; \
	JMP  tail; \
next: \
	ADDQ R8, SI; \
	ADDQ R12, R11; \
	DECQ CX; \
	JNZ  row; \
done: \
	VPTEST  Y14, Y14; \
	SETNE   ret+64(FP); \
	VZEROUPPER; \
	RET

#define LOAD4_F32 \
	VMOVUPS (SI)(AX*4), Y0; \
	VMOVUPS 32(SI)(AX*4), Y1; \
	VMOVUPS 64(SI)(AX*4), Y2; \
	VMOVUPS 96(SI)(AX*4), Y3
#define LOAD1_F32 VMOVUPS (SI)(AX*4), Y0
#define LOAD4_F16 \
	VCVTPH2PS (SI)(AX*2), Y0; \
	VCVTPH2PS 16(SI)(AX*2), Y1; \
	VCVTPH2PS 32(SI)(AX*2), Y2; \
	VCVTPH2PS 48(SI)(AX*2), Y3
#define LOAD1_F16 VCVTPH2PS (SI)(AX*2), Y0
#define LOAD4_BF16 \
	VPMOVZXWD (SI)(AX*2), Y0; \
	VPMOVZXWD 16(SI)(AX*2), Y1; \
	VPMOVZXWD 32(SI)(AX*2), Y2; \
	VPMOVZXWD 48(SI)(AX*2), Y3; \
	VPSLLD    $16, Y0, Y0; \
	VPSLLD    $16, Y1, Y1; \
	VPSLLD    $16, Y2, Y2; \
	VPSLLD    $16, Y3, Y3
#define LOAD1_BF16 \
	VPMOVZXWD (SI)(AX*2), Y0; \
	VPSLLD    $16, Y0, Y0

// BITS8: the fired bits of the 8 elements at AX into REG's low byte, NaN
// lanes ORed into Y14; AX moves on by 8.
#define BITS8(LOAD1, REG) \
	LOAD1; \
	VCMPPS    $0x1e, Y15, Y0, Y1; \
	VCMPPS    $3, Y0, Y0, Y0; \
	VORPS     Y0, Y14, Y14; \
	VMOVMSKPS Y1, REG; \
	ADDQ      $8, AX

// Pattern bits only: for each row, byte k of the row's output = the fired
// bits of units 8k..8k+7 (bit j = unit 8k+j). units is a multiple of 8;
// stride and outStride are in bytes. LOAD1 as for ROWSBITS. 32 units a step
// (four compares, one 32-bit store) while 32 remain, then 8. Returns
// whether any element was NaN (Y14 collects the unordered compares).
#define BITS(LOAD1) \
	MOVQ         x+0(FP), SI; \
	MOVQ         rows+8(FP), CX; \
	MOVQ         units+16(FP), DX; \
	MOVQ         stride+24(FP), R8; \
	VBROADCASTSS t+32(FP), Y15; \
	MOVQ         out+40(FP), DI; \
	MOVQ         outStride+48(FP), R11; \
	VXORPS       Y14, Y14, Y14; \
	TESTQ        CX, CX; \
	JZ           done; \
row: \
	XORQ AX, AX; \
	XORQ BX, BX; \
loop32: \
	LEAQ      32(AX), R9; \
	CMPQ      R9, DX; \
	JG        loop; \
	BITS8(LOAD1, R10); \
	BITS8(LOAD1, R12); \
	SHLL      $8, R12; \
	ORL       R12, R10; \
	BITS8(LOAD1, R12); \
	SHLL      $16, R12; \
	ORL       R12, R10; \
	BITS8(LOAD1, R12); \
	SHLL      $24, R12; \
	ORL       R12, R10; \
	MOVL      R10, (DI)(BX*1); \
	ADDQ      $4, BX; \
	JMP       loop32; \
loop: \
	CMPQ      AX, DX; \
	JGE       next; \
	BITS8(LOAD1, R10); \
	MOVB      R10, (DI)(BX*1); \
	INCQ      BX; \
	JMP       loop; \
next: \
	ADDQ R8, SI; \
	ADDQ R11, DI; \
	DECQ CX; \
	JNZ  row; \
done: \
	VPTEST    Y14, Y14; \
	SETNE     ret+56(FP); \
	VZEROUPPER; \
	RET

// The row count kernels: LOAD4 / LOAD1 as for ROWSBITS.
#define ROWS(LOAD4, LOAD1) \
	PROLOGUE; \
	TESTQ CX, CX; \
	JZ    done; \
row: \
	XORQ AX, AX; \
	CMPQ R9, $0; \
	JE   tail; \
loop4: \
	LOAD4; \
	STEP(0, Y0, Y4); \
	STEP(32, Y1, Y5); \
	STEP(64, Y2, Y6); \
	STEP(96, Y3, Y7); \
	ADDQ $32, AX; \
	CMPQ AX, R9; \
	JL   loop4; \
tail: \
	CMPQ AX, DX; \
	JGE  next; \
	LOAD1; \
	STEP(0, Y0, Y4); \
	ADDQ $8, AX; \
	JMP  tail; \
next: \
	ADDQ R8, SI; \
	DECQ CX; \
	JNZ  row; \
done: \
	EPILOGUE

// func rowsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsF32AVX2(SB), NOSPLIT, $0-49
	ROWS(LOAD4_F32, LOAD1_F32)

// func rowsBitsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool
TEXT ·rowsBitsF32AVX2(SB), NOSPLIT, $0-65
	ROWSBITS(LOAD4_F32, LOAD1_F32)

// func rowsBitsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool
TEXT ·rowsBitsF16AVX2(SB), NOSPLIT, $0-65
	ROWSBITS(LOAD4_F16, LOAD1_F16)

// func rowsBitsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool
TEXT ·rowsBitsBF16AVX2(SB), NOSPLIT, $0-65
	ROWSBITS(LOAD4_BF16, LOAD1_BF16)

// func rowsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsF16AVX2(SB), NOSPLIT, $0-49
	ROWS(LOAD4_F16, LOAD1_F16)

// func rowsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsBF16AVX2(SB), NOSPLIT, $0-49
	ROWS(LOAD4_BF16, LOAD1_BF16)

// Run kernels: count = #{i < n : x[i] > t}, nan = any(isnan(x[i])), over one
// contiguous run of n elements (n a multiple of 8, below 2^31), counting in
// registers.

#define RSTEP(V, C, A) \
	VCMPPS $0x1e, Y15, V, C; \
	VCMPPS $3, V, V, V; \
	VORPS  V, Y14, Y14; \
	VPADDD C, A, A

// func runF32AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)
TEXT ·runF32AVX2(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), DX
	VBROADCASTSS t+16(FP), Y15
	VPXOR        Y14, Y14, Y14
	VPXOR        Y10, Y10, Y10
	VPXOR        Y11, Y11, Y11
	XORQ         AX, AX
	MOVQ         DX, R9
	ANDQ         $~15, R9

loop2:
	CMPQ AX, R9
	JGE  tail
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	RSTEP(Y0, Y4, Y10)
	RSTEP(Y1, Y5, Y11)
	ADDQ $16, AX
	JMP  loop2

tail:
	CMPQ AX, DX
	JGE  done
	VMOVUPS (SI)(AX*4), Y0
	RSTEP(Y0, Y4, Y10)
	ADDQ $8, AX
	JMP  tail

done:
	VPADDD       Y10, Y11, Y10
	VEXTRACTI128 $1, Y10, X1
	VPADDD       X1, X10, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, BX
	MOVLQSX      BX, BX
	NEGQ         BX
	MOVQ         BX, count+24(FP)
	VPTEST       Y14, Y14
	SETNE        nan+32(FP)
	VZEROUPPER
	RET

// func runF16AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)
TEXT ·runF16AVX2(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), DX
	VBROADCASTSS t+16(FP), Y15
	VPXOR        Y14, Y14, Y14
	VPXOR        Y10, Y10, Y10
	VPXOR        Y11, Y11, Y11
	XORQ         AX, AX
	MOVQ         DX, R9
	ANDQ         $~15, R9

loop2:
	CMPQ AX, R9
	JGE  tail
	VCVTPH2PS (SI)(AX*2), Y0
	VCVTPH2PS 16(SI)(AX*2), Y1
	RSTEP(Y0, Y4, Y10)
	RSTEP(Y1, Y5, Y11)
	ADDQ $16, AX
	JMP  loop2

tail:
	CMPQ AX, DX
	JGE  done
	VCVTPH2PS (SI)(AX*2), Y0
	RSTEP(Y0, Y4, Y10)
	ADDQ $8, AX
	JMP  tail

done:
	VPADDD       Y10, Y11, Y10
	VEXTRACTI128 $1, Y10, X1
	VPADDD       X1, X10, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, BX
	MOVLQSX      BX, BX
	NEGQ         BX
	MOVQ         BX, count+24(FP)
	VPTEST       Y14, Y14
	SETNE        nan+32(FP)
	VZEROUPPER
	RET

// func runBF16AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)
TEXT ·runBF16AVX2(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), DX
	VBROADCASTSS t+16(FP), Y15
	VPXOR        Y14, Y14, Y14
	VPXOR        Y10, Y10, Y10
	VPXOR        Y11, Y11, Y11
	XORQ         AX, AX
	MOVQ         DX, R9
	ANDQ         $~15, R9

loop2:
	CMPQ AX, R9
	JGE  tail
	VPMOVZXWD (SI)(AX*2), Y0
	VPSLLD    $16, Y0, Y0
	VPMOVZXWD 16(SI)(AX*2), Y1
	VPSLLD    $16, Y1, Y1
	RSTEP(Y0, Y4, Y10)
	RSTEP(Y1, Y5, Y11)
	ADDQ $16, AX
	JMP  loop2

tail:
	CMPQ AX, DX
	JGE  done
	VPMOVZXWD (SI)(AX*2), Y0
	VPSLLD    $16, Y0, Y0
	RSTEP(Y0, Y4, Y10)
	ADDQ $8, AX
	JMP  tail

done:
	VPADDD       Y10, Y11, Y10
	VEXTRACTI128 $1, Y10, X1
	VPADDD       X1, X10, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, BX
	MOVLQSX      BX, BX
	NEGQ         BX
	MOVQ         BX, count+24(FP)
	VPTEST       Y14, Y14
	SETNE        nan+32(FP)
	VZEROUPPER
	RET

// func bitsF32AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)
TEXT ·bitsF32AVX2(SB), NOSPLIT, $0-57
	BITS(LOAD1_F32)

// func bitsF16AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)
TEXT ·bitsF16AVX2(SB), NOSPLIT, $0-57
	BITS(LOAD1_F16)

// func bitsBF16AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)
TEXT ·bitsBF16AVX2(SB), NOSPLIT, $0-57
	BITS(LOAD1_BF16)

// float64: 8 elements (two vectors of 4) per step. The 64-bit compare masks
// are packed to 8 int32 lanes (VPERMD takes the low half of each) so that
// the accumulators and the Go side are those of the 32-bit kernels.

DATA packIdx<>+0(SB)/4, $0
DATA packIdx<>+4(SB)/4, $2
DATA packIdx<>+8(SB)/4, $4
DATA packIdx<>+12(SB)/4, $6
DATA packIdx<>+16(SB)/4, $0
DATA packIdx<>+20(SB)/4, $2
DATA packIdx<>+24(SB)/4, $4
DATA packIdx<>+28(SB)/4, $6
GLOBL packIdx<>(SB), RODATA|NOPTR, $32

// F64STEP: loads 8 doubles at element AX, leaves the 8 packed fired masks
// in Y2 and ORs NaN masks into Y14.
#define F64STEP \
	VMOVUPD     (SI)(AX*8), Y0; \
	VMOVUPD     32(SI)(AX*8), Y1; \
	VCMPPD      $0x1e, Y15, Y0, Y2; \
	VCMPPD      $0x1e, Y15, Y1, Y3; \
	VCMPPD      $3, Y0, Y0, Y0; \
	VCMPPD      $3, Y1, Y1, Y1; \
	VORPD       Y0, Y14, Y14; \
	VORPD       Y1, Y14, Y14; \
	VPERMD      Y2, Y13, Y2; \
	VPERMD      Y3, Y13, Y3; \
	VINSERTI128 $1, X3, Y2, Y2

// func rowsF64AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float64, acc *int32) bool
TEXT ·rowsF64AVX2(SB), NOSPLIT, $0-49
	MOVQ         x+0(FP), SI
	MOVQ         rows+8(FP), CX
	MOVQ         rowLen+16(FP), DX
	MOVQ         stride+24(FP), R8
	VBROADCASTSD t+32(FP), Y15
	MOVQ         acc+40(FP), DI
	VXORPD       Y14, Y14, Y14
	VMOVDQU      packIdx<>(SB), Y13
	TESTQ        CX, CX
	JZ           ddone

drow:
	XORQ AX, AX

dloop:
	CMPQ    AX, DX
	JGE     dnext
	F64STEP
	VPADDD  (DI)(AX*4), Y2, Y2
	VMOVDQU Y2, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     dloop

dnext:
	ADDQ R8, SI
	DECQ CX
	JNZ  drow

ddone:
	VPTEST Y14, Y14
	SETNE  ret+48(FP)
	VZEROUPPER
	RET

// func runF64AVX2(x unsafe.Pointer, n int, t float64) (count int, nan bool)
TEXT ·runF64AVX2(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), DX
	VBROADCASTSD t+16(FP), Y15
	VPXOR        Y14, Y14, Y14
	VPXOR        Y10, Y10, Y10
	VMOVDQU      packIdx<>(SB), Y13
	XORQ         AX, AX

rloop:
	CMPQ   AX, DX
	JGE    rdone
	F64STEP
	VPADDD Y2, Y10, Y10
	ADDQ   $8, AX
	JMP    rloop

rdone:
	VEXTRACTI128 $1, Y10, X1
	VPADDD       X1, X10, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, BX
	MOVLQSX      BX, BX
	NEGQ         BX
	MOVQ         BX, count+24(FP)
	VPTEST       Y14, Y14
	SETNE        nan+32(FP)
	VZEROUPPER
	RET
