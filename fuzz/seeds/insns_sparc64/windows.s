! Register windows, a syscall (%g1 starts as getpid), traps, division by zero, misalignment.
	save %sp, -192, %sp
	save %sp, -192, %sp
	flushw
	restore
	ta 0x6d
	restore
	udivx %o0, %g0, %o1
	sdiv %o0, %g0, %o1
	ldx [%o0 + 1], %o2
	lduw [%o1 + 2], %o3
	illtrap 0x123
	ta 5
	rd %pc, %o4
	rd %tick, %o5
	rd %ccr, %l0
	wr %g0, 0x82, %asi
	ldxa [%o0] %asi, %l1
	fadds %f0, %f1, %f2
	fdivd %f0, %f2, %f4
	ldd [%o2], %f6
	ba,a 1f
	illtrap 1
1:	brz,pt %g0, 2f
	 nop
	illtrap 2
2:	call 3f
	 nop
3:	nop
