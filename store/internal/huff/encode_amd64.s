//go:build amd64 && !purego

#include "textflag.h"

// func encodePairBMI2(st *pairState, pa, pb *byte, n int, ta, tb *[256]uint32, oa, ob *byte, ca, cb int) int
//
// The encoder's inner loop (encode_amd64.go): bytes [0, n) of pa coded
// with ta into stream A and of pb with tb into stream B, 4 of each per
// step, then each stream's whole bytes flushed with one 8-byte store.
// Entries are code | length<<24 | escapedFlag (1<<31), so entry>>24 is the
// length, plus 128 when escaped: an escaped byte takes a stream's bit count
// past 63, and the step is undone (from the copy on the stack) and done
// again a byte at a time (an escaped code and its literal take up to 19
// bits, 4 of them more than one flush holds). A step advances an output by
// at most 10 bytes and stores 8 past that, so a step starts only with 24
// bytes of room in both (ca, cb: the outputs' capacities from oa, ob).
// Registers: R10/R11 the accumulators, R12/R13 the bit counts (< 8 between
// steps), R14/R15 the output pointers, BX the byte index.

// SYM codes byte off(P)(BX*1) with table T into ACC at bit N: the
// entry's top byte is the length (| 128 if escaped), its low 16 bits the
// code of a byte that is not escaped (at most 11 bits).
#define SYM(off, P, T, ACC, N) \
	MOVBLZX off(P)(BX*1), AX \
	MOVBLZX 3(T)(AX*4), CX   \
	MOVWLZX (T)(AX*4), AX    \
	SHLXQ   N, AX, AX        \
	ORQ     AX, ACC          \
	ADDQ    CX, N

// SYMX is SYM for a step holding an escaped byte: the flag is dropped
// from the length.
#define SYMX(off, P, T, ACC, N) \
	MOVBLZX off(P)(BX*1), AX \
	MOVL    (T)(AX*4), AX    \
	MOVL    AX, CX           \
	SHRL    $24, CX          \
	ANDL    $31, CX          \
	ANDL    $0xffffff, AX    \
	SHLXQ   N, AX, AX        \
	ORQ     AX, ACC          \
	ADDQ    CX, N

// FLUSH writes ACC's whole bytes at OUT and keeps the rest.
#define FLUSH(ACC, N, OUT) \
	MOVQ  ACC, (OUT)  \
	MOVQ  N, AX       \
	SHRQ  $3, AX      \
	ADDQ  AX, OUT     \
	MOVQ  N, CX       \
	ANDQ  $-8, CX     \
	SHRXQ CX, ACC, ACC \
	ANDQ  $7, N

// ESCBYTE codes byte off of both streams' step, flushing after each.
#define ESCBYTE(off) \
	SYMX(off, SI, R8, R10, R12) \
	FLUSH(R10, R12, R14)        \
	SYMX(off, DI, R9, R11, R13) \
	FLUSH(R11, R13, R15)

TEXT ·encodePairBMI2(SB), NOSPLIT, $48-88
	MOVQ st+0(FP), AX
	MOVQ 0(AX), R10            // accA
	MOVQ 8(AX), R11            // accB
	MOVQ 16(AX), R12           // nA
	MOVQ 24(AX), R13           // nB
	MOVQ oa+48(FP), R14
	ADDQ 32(AX), R14           // outA = oa + la
	MOVQ ob+56(FP), R15
	ADDQ 40(AX), R15           // outB = ob + lb
	MOVQ pa+8(FP), SI
	MOVQ pb+16(FP), DI
	MOVQ n+24(FP), DX
	MOVQ ta+32(FP), R8
	MOVQ tb+40(FP), R9
	MOVQ oa+48(FP), AX
	ADDQ ca+64(FP), AX
	SUBQ $24, AX
	MOVQ AX, lima-40(SP)       // the last start of a step in A
	MOVQ ob+56(FP), AX
	ADDQ cb+72(FP), AX
	SUBQ $24, AX
	MOVQ AX, limb-48(SP)
	XORQ BX, BX

step:
	CMPQ BX, DX
	JAE  done
	CMPQ R14, lima-40(SP)
	JA   done
	CMPQ R15, limb-48(SP)
	JA   done
	MOVQ R10, sa-8(SP)
	MOVQ R11, sb-16(SP)
	MOVQ R12, na-24(SP)
	MOVQ R13, nb-32(SP)
	SYM(0, SI, R8, R10, R12)
	SYM(0, DI, R9, R11, R13)
	SYM(1, SI, R8, R10, R12)
	SYM(1, DI, R9, R11, R13)
	SYM(2, SI, R8, R10, R12)
	SYM(2, DI, R9, R11, R13)
	SYM(3, SI, R8, R10, R12)
	SYM(3, DI, R9, R11, R13)
	MOVQ R12, AX
	ORQ  R13, AX
	CMPQ AX, $64
	JAE  escaped
	FLUSH(R10, R12, R14)
	FLUSH(R11, R13, R15)
	ADDQ $4, BX
	JMP  step

escaped:
	MOVQ sa-8(SP), R10
	MOVQ sb-16(SP), R11
	MOVQ na-24(SP), R12
	MOVQ nb-32(SP), R13
	ESCBYTE(0)
	ESCBYTE(1)
	ESCBYTE(2)
	ESCBYTE(3)
	ADDQ $4, BX
	JMP  step

done:
	MOVQ st+0(FP), AX
	MOVQ R10, 0(AX)
	MOVQ R11, 8(AX)
	MOVQ R12, 16(AX)
	MOVQ R13, 24(AX)
	SUBQ oa+48(FP), R14
	MOVQ R14, 32(AX)
	SUBQ ob+56(FP), R15
	MOVQ R15, 40(AX)
	MOVQ BX, ret+80(FP)
	RET
