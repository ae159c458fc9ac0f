//go:build amd64 && !purego

#include "textflag.h"

// func planes16(dst *byte, rows *uint64, w, nobs, nj, n16, last int)
//
// For each word k < nj and each group of 16 rows (o = 16t): load word k of
// the 16 rows (X0..X15, row r in Xr's low 8 bytes), transpose the 16x8
// bytes with unpacks (bytes, then words, dwords, qwords), and store byte
// position b of the 16 rows, 16 bytes, at plane 8k+b: dst[(8k+b)*nobs + o],
// for the last word (k = nj-1) only its first last planes (1..8).
// Words outside, groups inside: 8 planes are written at a time, each
// sequentially. The other nesting writes to all the planes, each in a page
// of its own, 16 bytes at a time; it ran at 2.2 GB/s, this one at 11-12
// (BenchmarkRowsToPlanes, 512 units).
TEXT ·planes16(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ nobs+24(FP), R9
	MOVQ nj+32(FP), R10
	MOVQ n16+40(FP), R11
	SHLQ $3, R8                // row stride in bytes
	MOVQ R9, R14
	SHLQ $3, R14               // 8 planes, in bytes of dst

	XORQ R13, R13              // k

word:
	CMPQ R13, R10
	JGE  done
	MOVQ SI, BX                // &rows[o*w], o = 0
	MOVQ DI, DX                // &dst[o]
	MOVQ R11, R12              // groups left

group:
	TESTQ R12, R12
	JZ    nextword
	LEAQ (BX)(R13*8), AX       // &rows[o*w + k]
	MOVQ (AX), X0
	ADDQ R8, AX
	MOVQ (AX), X1
	ADDQ R8, AX
	MOVQ (AX), X2
	ADDQ R8, AX
	MOVQ (AX), X3
	ADDQ R8, AX
	MOVQ (AX), X4
	ADDQ R8, AX
	MOVQ (AX), X5
	ADDQ R8, AX
	MOVQ (AX), X6
	ADDQ R8, AX
	MOVQ (AX), X7
	ADDQ R8, AX
	MOVQ (AX), X8
	ADDQ R8, AX
	MOVQ (AX), X9
	ADDQ R8, AX
	MOVQ (AX), X10
	ADDQ R8, AX
	MOVQ (AX), X11
	ADDQ R8, AX
	MOVQ (AX), X12
	ADDQ R8, AX
	MOVQ (AX), X13
	ADDQ R8, AX
	MOVQ (AX), X14
	ADDQ R8, AX
	MOVQ (AX), X15

	// bytes: pairs of rows, byte position b in word b
	PUNPCKLBW X1, X0
	PUNPCKLBW X3, X2
	PUNPCKLBW X5, X4
	PUNPCKLBW X7, X6
	PUNPCKLBW X9, X8
	PUNPCKLBW X11, X10
	PUNPCKLBW X13, X12
	PUNPCKLBW X15, X14

	// words: 4 rows, positions 0-3 (low) and 4-7 (high) in dwords
	MOVOU     X0, X1
	PUNPCKLWL X2, X0
	PUNPCKHWL X2, X1
	MOVOU     X4, X5
	PUNPCKLWL X6, X4
	PUNPCKHWL X6, X5
	MOVOU     X8, X9
	PUNPCKLWL X10, X8
	PUNPCKHWL X10, X9
	MOVOU     X12, X13
	PUNPCKLWL X14, X12
	PUNPCKHWL X14, X13

	// dwords: 8 rows, two positions a register, in qwords
	MOVOU     X0, X2
	PUNPCKLLQ X4, X0           // positions 0, 1 (rows 0-7)
	PUNPCKHLQ X4, X2           // 2, 3
	MOVOU     X1, X3
	PUNPCKLLQ X5, X1           // 4, 5
	PUNPCKHLQ X5, X3           // 6, 7
	MOVOU     X8, X10
	PUNPCKLLQ X12, X8          // 0, 1 (rows 8-15)
	PUNPCKHLQ X12, X10         // 2, 3
	MOVOU     X9, X11
	PUNPCKLLQ X13, X9          // 4, 5
	PUNPCKHLQ X13, X11         // 6, 7

	// qwords: 16 rows, one position a register
	MOVOU      X0, X4
	PUNPCKLQDQ X8, X0          // position 0
	PUNPCKHQDQ X8, X4          // 1
	MOVOU      X2, X5
	PUNPCKLQDQ X10, X2         // 2
	PUNPCKHQDQ X10, X5         // 3
	MOVOU      X1, X6
	PUNPCKLQDQ X9, X1          // 4
	PUNPCKHQDQ X9, X6          // 5
	MOVOU      X3, X7
	PUNPCKLQDQ X11, X3         // 6
	PUNPCKHQDQ X11, X7         // 7

	// store: plane 8k+b at DX + (8k+b)*nobs
	MOVQ  R13, AX
	IMULQ R14, AX
	ADDQ  DX, AX
	LEAQ  1(R13), CX
	CMPQ  CX, R10
	JEQ   lastword
	MOVOU X0, (AX)
	ADDQ  R9, AX
	MOVOU X4, (AX)
	ADDQ  R9, AX
	MOVOU X2, (AX)
	ADDQ  R9, AX
	MOVOU X5, (AX)
	ADDQ  R9, AX
	MOVOU X1, (AX)
	ADDQ  R9, AX
	MOVOU X6, (AX)
	ADDQ  R9, AX
	MOVOU X3, (AX)
	ADDQ  R9, AX
	MOVOU X7, (AX)

stored:
	MOVQ R8, AX
	SHLQ $4, AX
	ADDQ AX, BX                // 16 rows on
	ADDQ $16, DX               // 16 observations on
	DECQ R12
	JMP  group

nextword:
	INCQ R13
	JMP  word

lastword:
	// the last word's planes below last alone: the others are not dst's
	MOVQ  last+48(FP), CX
	MOVOU X0, (AX)
	CMPQ  CX, $1
	JLE   stored
	ADDQ  R9, AX
	MOVOU X4, (AX)
	CMPQ  CX, $2
	JLE   stored
	ADDQ  R9, AX
	MOVOU X2, (AX)
	CMPQ  CX, $3
	JLE   stored
	ADDQ  R9, AX
	MOVOU X5, (AX)
	CMPQ  CX, $4
	JLE   stored
	ADDQ  R9, AX
	MOVOU X1, (AX)
	CMPQ  CX, $5
	JLE   stored
	ADDQ  R9, AX
	MOVOU X6, (AX)
	CMPQ  CX, $6
	JLE   stored
	ADDQ  R9, AX
	MOVOU X3, (AX)
	CMPQ  CX, $7
	JLE   stored
	ADDQ  R9, AX
	MOVOU X7, (AX)
	JMP   stored

done:
	RET
