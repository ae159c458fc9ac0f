//go:build amd64 && !purego

#include "textflag.h"

// func decodePairBMI2(st *decState, pa, pb *byte, n int, ta, tb *[2048]uint16, da, db *byte) int
//
// The static codec's decoding loop (static.go's decodePair, in assembly):
// 5 codes of each stream per 64-bit load (at most 55 bits past the load's
// bit offset), the two streams interleaved. A group starts only where 8
// bytes can be loaded (st.limA/limB) and 5 bytes remain to write; a group
// with an escaped code (symbol 256, bit 8 of the entry) is undone and left
// to Go. Returns the bytes decoded; st.posA/posB are the streams' bit
// positions after them. Entries: symbol | length<<9.
// Registers: R10/R11 bit positions, R12/R13 the loaded bits, R14/R15 the
// outputs, BX the byte index, DX the OR of the entries (escape flag).

// SYM decodes code k of a step with table T from the bits in BITS, stores
// the symbol at byte k of OUT (from BX on) and moves POS on.
#define SYM(k, T, BITS, OUT, POS) \
	MOVQ    BITS, AX; \
	ANDL    $0x7ff, AX; \
	MOVWLZX (T)(AX*2), AX; \
	ORL     AX, DX; \
	MOVB    AX, k(OUT)(BX*1); \
	MOVL    AX, CX; \
	SHRL    $9, CX; \
	SHRXQ   CX, BITS, BITS; \
	ADDQ    CX, POS

#define SYMA(k) SYM(k, R8, R12, R14, R10)
#define SYMB(k) SYM(k, R9, R13, R15, R11)

TEXT ·decodePairBMI2(SB), NOSPLIT, $16-72
	MOVQ st+0(FP), AX
	MOVQ 0(AX), R10            // posA
	MOVQ 8(AX), R11            // posB
	MOVQ pa+8(FP), R14
	MOVQ pb+16(FP), R15
	MOVQ ta+32(FP), R8
	MOVQ tb+40(FP), R9
	MOVQ da+48(FP), SI
	MOVQ db+56(FP), DI
	XORQ BX, BX

group:
	LEAQ 5(BX), AX
	CMPQ AX, n+24(FP)
	JG   done
	MOVQ st+0(FP), AX
	MOVQ R10, CX
	SHRQ $3, CX
	CMPQ CX, 16(AX)            // limA
	JG   done
	MOVQ R11, DX
	SHRQ $3, DX
	CMPQ DX, 24(AX)            // limB
	JG   done
	MOVQ R10, sa-8(SP)
	MOVQ R11, sb-16(SP)
	MOVQ (SI)(CX*1), R12
	MOVQ R10, CX
	ANDQ $7, CX
	SHRXQ CX, R12, R12
	MOVQ (DI)(DX*1), R13
	MOVQ R11, CX
	ANDQ $7, CX
	SHRXQ CX, R13, R13
	XORL DX, DX
	SYMA(0)
	SYMB(0)
	SYMA(1)
	SYMB(1)
	SYMA(2)
	SYMB(2)
	SYMA(3)
	SYMB(3)
	SYMA(4)
	SYMB(4)
	TESTL $0x100, DX
	JNZ   escaped
	ADDQ  $5, BX
	JMP   group

escaped:
	MOVQ sa-8(SP), R10
	MOVQ sb-16(SP), R11

done:
	MOVQ st+0(FP), AX
	MOVQ R10, 0(AX)
	MOVQ R11, 8(AX)
	MOVQ BX, ret+64(FP)
	RET
