//go:build amd64 && !purego

#include "textflag.h"

// func tileBits(tile *[64]uint64, groups int, out *uint64, stride int)
//
// The transpose of packBits' 64x64 bit tiles, for whole tiles of 64
// positions: word r of tile holds unit r's fired bits at positions 0..63;
// for each position p, bits 16g..16g+15 (g < groups) of the word at
// out + p*stride get units 16g..16g+15's bits at p. Per group of 16 units,
// a 16x8 byte transpose (SSE2 unpacks, as store's planes16) gives byte b of
// the 16 words in one register; PMOVMSKB then takes bit 7 of its bytes
// (position 8b+7 of the 16 units), PADDB moves bit 6 up, and so on. Group 0
// stores whole words (zeroing bits 16..63), the others their 2 bytes.

// TRANS16: the 16 words at DI; byte b of them in X0, X4, X2, X5, X1, X6, X3,
// X7 for b = 0..7.
#define TRANS16 \
	MOVQ 0(DI), X0; \
	MOVQ 8(DI), X1; \
	MOVQ 16(DI), X2; \
	MOVQ 24(DI), X3; \
	MOVQ 32(DI), X4; \
	MOVQ 40(DI), X5; \
	MOVQ 48(DI), X6; \
	MOVQ 56(DI), X7; \
	MOVQ 64(DI), X8; \
	MOVQ 72(DI), X9; \
	MOVQ 80(DI), X10; \
	MOVQ 88(DI), X11; \
	MOVQ 96(DI), X12; \
	MOVQ 104(DI), X13; \
	MOVQ 112(DI), X14; \
	MOVQ 120(DI), X15; \
	PUNPCKLBW  X1, X0; \
	PUNPCKLBW  X3, X2; \
	PUNPCKLBW  X5, X4; \
	PUNPCKLBW  X7, X6; \
	PUNPCKLBW  X9, X8; \
	PUNPCKLBW  X11, X10; \
	PUNPCKLBW  X13, X12; \
	PUNPCKLBW  X15, X14; \
	MOVOU      X0, X1; \
	PUNPCKLWL  X2, X0; \
	PUNPCKHWL  X2, X1; \
	MOVOU      X4, X5; \
	PUNPCKLWL  X6, X4; \
	PUNPCKHWL  X6, X5; \
	MOVOU      X8, X9; \
	PUNPCKLWL  X10, X8; \
	PUNPCKHWL  X10, X9; \
	MOVOU      X12, X13; \
	PUNPCKLWL  X14, X12; \
	PUNPCKHWL  X14, X13; \
	MOVOU      X0, X2; \
	PUNPCKLLQ  X4, X0; \
	PUNPCKHLQ  X4, X2; \
	MOVOU      X1, X3; \
	PUNPCKLLQ  X5, X1; \
	PUNPCKHLQ  X5, X3; \
	MOVOU      X8, X10; \
	PUNPCKLLQ  X12, X8; \
	PUNPCKHLQ  X12, X10; \
	MOVOU      X9, X11; \
	PUNPCKLLQ  X13, X9; \
	PUNPCKHLQ  X13, X11; \
	MOVOU      X0, X4; \
	PUNPCKLQDQ X8, X0; \
	PUNPCKHQDQ X8, X4; \
	MOVOU      X2, X5; \
	PUNPCKLQDQ X10, X2; \
	PUNPCKHQDQ X10, X5; \
	MOVOU      X1, X6; \
	PUNPCKLQDQ X9, X1; \
	PUNPCKHQDQ X9, X6; \
	MOVOU      X3, X7; \
	PUNPCKLQDQ X11, X3; \
	PUNPCKHQDQ X11, X7

// BITQ / BITW store one position's mask: bit 7 of X's 16 bytes, at BX
// (the whole word) or at byte R10 of it; then the next position down and
// the next bit up.
#define BITQ(X) \
	PMOVMSKB X, AX; \
	MOVQ     AX, (BX); \
	SUBQ     R9, BX; \
	PADDB    X, X

#define BITW(X) \
	PMOVMSKB X, AX; \
	MOVW     AX, (BX)(R10*1); \
	SUBQ     R9, BX; \
	PADDB    X, X

// MASKQ / MASKW store one byte column's 8 positions, 8b+7 down to 8b, BX
// pointing at position 8b+7's word; BX ends at position 8b+15's.
#define MASKQ(X) BITQ(X); BITQ(X); BITQ(X); BITQ(X); BITQ(X); BITQ(X); BITQ(X); BITQ(X); ADDQ R13, BX
#define MASKW(X) BITW(X); BITW(X); BITW(X); BITW(X); BITW(X); BITW(X); BITW(X); BITW(X); ADDQ R13, BX

TEXT ·tileBits(SB), NOSPLIT, $0-32
	MOVQ tile+0(FP), DI
	MOVQ groups+8(FP), R11
	MOVQ out+16(FP), R8
	MOVQ stride+24(FP), R9
	MOVQ R9, R13
	SHLQ $4, R13               // 16 positions
	LEAQ (R9)(R9*2), R12
	LEAQ (R9)(R12*2), R12      // 7 positions
	XORQ R10, R10              // byte offset in the words: 2g
	TESTQ R11, R11
	JLE   done
	TRANS16
	LEAQ (R8)(R12*1), BX
	MASKQ(X0)
	MASKQ(X4)
	MASKQ(X2)
	MASKQ(X5)
	MASKQ(X1)
	MASKQ(X6)
	MASKQ(X3)
	MASKQ(X7)

group:
	DECQ R11
	JLE  done
	ADDQ $128, DI
	ADDQ $2, R10
	TRANS16
	LEAQ (R8)(R12*1), BX
	MASKW(X0)
	MASKW(X4)
	MASKW(X2)
	MASKW(X5)
	MASKW(X1)
	MASKW(X6)
	MASKW(X3)
	MASKW(X7)
	JMP group

done:
	RET
