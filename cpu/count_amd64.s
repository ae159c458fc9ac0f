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

// func rowsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsF32AVX2(SB), NOSPLIT, $0-49
	PROLOGUE
	TESTQ CX, CX
	JZ    done

row:
	XORQ AX, AX
	CMPQ R9, $0
	JE   tail

loop4:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS 64(SI)(AX*4), Y2
	VMOVUPS 96(SI)(AX*4), Y3
	STEP(0, Y0, Y4)
	STEP(32, Y1, Y5)
	STEP(64, Y2, Y6)
	STEP(96, Y3, Y7)
	ADDQ $32, AX
	CMPQ AX, R9
	JL   loop4

tail:
	CMPQ AX, DX
	JGE  next
	VMOVUPS (SI)(AX*4), Y0
	STEP(0, Y0, Y4)
	ADDQ $8, AX
	JMP  tail

next:
	ADDQ R8, SI
	DECQ CX
	JNZ  row

done:
	EPILOGUE

// func rowsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsF16AVX2(SB), NOSPLIT, $0-49
	PROLOGUE
	TESTQ CX, CX
	JZ    done

row:
	XORQ AX, AX
	CMPQ R9, $0
	JE   tail

loop4:
	VCVTPH2PS (SI)(AX*2), Y0
	VCVTPH2PS 16(SI)(AX*2), Y1
	VCVTPH2PS 32(SI)(AX*2), Y2
	VCVTPH2PS 48(SI)(AX*2), Y3
	STEP(0, Y0, Y4)
	STEP(32, Y1, Y5)
	STEP(64, Y2, Y6)
	STEP(96, Y3, Y7)
	ADDQ $32, AX
	CMPQ AX, R9
	JL   loop4

tail:
	CMPQ AX, DX
	JGE  next
	VCVTPH2PS (SI)(AX*2), Y0
	STEP(0, Y0, Y4)
	ADDQ $8, AX
	JMP  tail

next:
	ADDQ R8, SI
	DECQ CX
	JNZ  row

done:
	EPILOGUE

// func rowsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool
TEXT ·rowsBF16AVX2(SB), NOSPLIT, $0-49
	PROLOGUE
	TESTQ CX, CX
	JZ    done

row:
	XORQ AX, AX
	CMPQ R9, $0
	JE   tail

loop4:
	VPMOVZXWD (SI)(AX*2), Y0
	VPMOVZXWD 16(SI)(AX*2), Y1
	VPMOVZXWD 32(SI)(AX*2), Y2
	VPMOVZXWD 48(SI)(AX*2), Y3
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	STEP(0, Y0, Y4)
	STEP(32, Y1, Y5)
	STEP(64, Y2, Y6)
	STEP(96, Y3, Y7)
	ADDQ $32, AX
	CMPQ AX, R9
	JL   loop4

tail:
	CMPQ AX, DX
	JGE  next
	VPMOVZXWD (SI)(AX*2), Y0
	VPSLLD    $16, Y0, Y0
	STEP(0, Y0, Y4)
	ADDQ $8, AX
	JMP  tail

next:
	ADDQ R8, SI
	DECQ CX
	JNZ  row

done:
	EPILOGUE
