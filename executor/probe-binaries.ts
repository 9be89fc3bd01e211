/**
 * Tiny static Linux programs that only call exit(0), one per architecture kiln can emulate, built
 * here from a few instruction words instead of being shipped as opaque blobs. Running one tells
 * whether the kernel (natively or through a binfmt_misc handler) can execute that architecture.
 */

/** An architecture a probe exists for, in OCI spelling, with the name QEMU uses for it. */
export interface ProbeArch {
  readonly architecture: string;
  /** Variants advertised when the probe runs (arm runs v7 and v6 binaries alike). */
  readonly variants: readonly string[];
  /** The `qemu-<name>` binfmt_misc handler / qemu-user binary name. */
  readonly qemu: string;
  /** The probe program, a complete ELF executable. */
  readonly binary: Uint8Array;
}

interface ElfShape {
  readonly bits: 32 | 64;
  readonly bigEndian: boolean;
  readonly machine: number;
  readonly flags: number;
  /** Instruction words (4 bytes each, written in the target's byte order) or raw bytes. */
  readonly code: readonly number[] | Uint8Array;
}

const base = 0x400000;

function elf(shape: ElfShape): Uint8Array {
  const { bits, bigEndian } = shape;
  const le = !bigEndian;
  const ehsize = bits === 64 ? 64 : 52;
  const phsize = bits === 64 ? 56 : 32;
  const code =
    shape.code instanceof Uint8Array
      ? shape.code
      : (() => {
          const b = new Uint8Array(shape.code.length * 4);
          const v = new DataView(b.buffer);
          shape.code.forEach((w, i) => v.setUint32(i * 4, w, le));
          return b;
        })();
  const size = ehsize + phsize + code.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, bigEndian ? 2 : 1, 1], 0);
  v.setUint16(16, 2, le); // ET_EXEC
  v.setUint16(18, shape.machine, le);
  v.setUint32(20, 1, le);
  const entry = base + ehsize + phsize;
  if (bits === 64) {
    v.setBigUint64(24, BigInt(entry), le);
    v.setBigUint64(32, BigInt(ehsize), le); // e_phoff
    v.setUint32(48, shape.flags, le);
    v.setUint16(52, ehsize, le);
    v.setUint16(54, phsize, le);
    v.setUint16(56, 1, le);
    const ph = ehsize;
    v.setUint32(ph, 1, le); // PT_LOAD
    v.setUint32(ph + 4, 5, le); // R+X
    v.setBigUint64(ph + 16, BigInt(base), le);
    v.setBigUint64(ph + 24, BigInt(base), le);
    v.setBigUint64(ph + 32, BigInt(size), le);
    v.setBigUint64(ph + 40, BigInt(size), le);
    v.setBigUint64(ph + 48, 0x1000n, le);
  } else {
    v.setUint32(24, entry, le);
    v.setUint32(28, ehsize, le);
    v.setUint32(36, shape.flags, le);
    v.setUint16(40, ehsize, le);
    v.setUint16(42, phsize, le);
    v.setUint16(44, 1, le);
    const ph = ehsize;
    v.setUint32(ph, 1, le);
    v.setUint32(ph + 8, base, le);
    v.setUint32(ph + 12, base, le);
    v.setUint32(ph + 16, size, le);
    v.setUint32(ph + 20, size, le);
    v.setUint32(ph + 24, 5, le);
    v.setUint32(ph + 28, 0x1000, le);
  }
  out.set(code, ehsize + phsize);
  return out;
}

const mips64Exit = [0x24040000 /* li a0,0 */, 0x240213c2 /* li v0,5058 (exit) */, 0x0000000c /* syscall */];
const ppc64Exit = [0x38600000 /* li r3,0 */, 0x38000001 /* li r0,1 (exit) */, 0x44000002 /* sc */];

/** Every architecture with a probe, in the order BuildKit lists emulated platforms. */
export const probeArches: readonly ProbeArch[] = [
  {
    architecture: 'amd64',
    variants: [''],
    qemu: 'x86_64',
    // mov eax,231 (exit_group); xor edi,edi; syscall
    binary: elf({
      bits: 64,
      bigEndian: false,
      machine: 62,
      flags: 0,
      code: Uint8Array.of(0xb8, 0xe7, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05),
    }),
  },
  {
    architecture: 'arm64',
    variants: [''],
    qemu: 'aarch64',
    // mov x0,#0; mov x8,#93 (exit); svc #0
    binary: elf({
      bits: 64,
      bigEndian: false,
      machine: 183,
      flags: 0,
      code: [0xd2800000, 0xd2800ba8, 0xd4000001],
    }),
  },
  {
    architecture: 'riscv64',
    variants: [''],
    qemu: 'riscv64',
    // li a0,0; li a7,93 (exit); ecall
    binary: elf({
      bits: 64,
      bigEndian: false,
      machine: 243,
      flags: 0,
      code: [0x00000513, 0x05d00893, 0x00000073],
    }),
  },
  {
    architecture: 'ppc64',
    variants: [''],
    qemu: 'ppc64',
    // ELFv2 (flags 2) so the entry point is code, not a function descriptor.
    binary: elf({ bits: 64, bigEndian: true, machine: 21, flags: 2, code: ppc64Exit }),
  },
  {
    architecture: 'ppc64le',
    variants: [''],
    qemu: 'ppc64le',
    binary: elf({ bits: 64, bigEndian: false, machine: 21, flags: 2, code: ppc64Exit }),
  },
  {
    architecture: 's390x',
    variants: [''],
    qemu: 's390x',
    // lghi %r2,0; svc 1 (exit)
    binary: elf({
      bits: 64,
      bigEndian: true,
      machine: 22,
      flags: 0,
      code: Uint8Array.of(0xa7, 0x29, 0, 0, 0x0a, 0x01),
    }),
  },
  {
    architecture: '386',
    variants: [''],
    qemu: 'i386',
    // mov eax,1 (exit); xor ebx,ebx; int 0x80
    binary: elf({
      bits: 32,
      bigEndian: false,
      machine: 3,
      flags: 0,
      code: Uint8Array.of(0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80),
    }),
  },
  {
    architecture: 'mips64le',
    variants: [''],
    qemu: 'mips64el',
    binary: elf({ bits: 64, bigEndian: false, machine: 8, flags: 0x80000000, code: mips64Exit }),
  },
  {
    architecture: 'mips64',
    variants: [''],
    qemu: 'mips64',
    binary: elf({ bits: 64, bigEndian: true, machine: 8, flags: 0x80000000, code: mips64Exit }),
  },
  {
    architecture: 'arm',
    variants: ['v7', 'v6'],
    qemu: 'arm',
    // EABI5: mov r0,#0; mov r7,#1 (exit); svc #0
    binary: elf({
      bits: 32,
      bigEndian: false,
      machine: 40,
      flags: 0x05000000,
      code: [0xe3a00000, 0xe3a07001, 0xef000000],
    }),
  },
];
