// A few 128-bit SIMD loops as a WebAssembly module, assembled here from readable opcodes so
// no binary blob or build step is needed. JavaScript has no SIMD, and its scalar loops are
// compute bound: on a 25M-parameter merge these run variance correction about 2x and the
// sorting networks of the robust rules over 10x faster (bench/RESULTS.md).
// All pointers are byte offsets into the module's memory, 16-byte aligned; lengths count
// floats and are multiples of 4. Where WebAssembly or its SIMD is missing (or a page's CSP
// forbids compiling), `loadSimd` returns undefined and callers use the JavaScript loops.

const I32 = 0x7f
const F32 = 0x7d
const V128 = 0x7b

function uleb (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

function sleb (n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) { out.push(byte); return out }
    out.push(byte | 0x80)
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes]
const name = (s: string): number[] => vec([...s].map(c => [c.charCodeAt(0)]))
const simd = (opcode: number): number[] => [0xfd, ...uleb(opcode)]

const get = (i: number): number[] => [0x20, ...uleb(i)]
const set = (i: number): number[] => [0x21, ...uleb(i)]
const tee = (i: number): number[] => [0x22, ...uleb(i)]
const i32 = (n: number): number[] => [0x41, ...sleb(n)]
const f32 = (x: number): number[] => [0x43, ...new Uint8Array(Float32Array.of(x).buffer)]
const I32_ADD = [0x6a]
const I32_SHL = [0x74]
const I32_LT_U = [0x49]
const I32_EQZ = [0x45]
const END = [0x0b]
const load = (offset = 0): number[] => [...simd(0x00), 4, ...uleb(offset)]
const store = (offset = 0): number[] => [...simd(0x0b), 4, ...uleb(offset)]
const SPLAT = simd(0x13)
const ADD = simd(0xe4)
const SUB = simd(0xe5)
const MUL = simd(0xe6)
/** pmin(a, b) = b < a ? b : a */
const PMIN = simd(0xea)
/** pmax(a, b) = a < b ? b : a */
const PMAX = simd(0xeb)

const bump = (p: number): number[] => [...get(p), ...i32(16), ...I32_ADD, ...set(p)]
/** end = ptr + len·4 */
const endOf = (ptr: number, len: number, end: number): number[] => [...get(ptr), ...get(len), ...i32(2), ...I32_SHL, ...I32_ADD, ...set(end)]
/** A loop over 16-byte steps that runs while `ptr` < `end`, skipped when `len` is 0. */
const loop = (len: number, ptr: number, end: number, body: number[]): number[] => [
  0x02, 0x40, ...get(len), ...I32_EQZ, 0x0d, 0, 0x03, 0x40,
  ...body,
  ...get(ptr), ...i32(16), ...I32_ADD, ...tee(ptr), ...get(end), ...I32_LT_U, 0x0d, 0,
  ...END, ...END
]

interface FunctionDef { exportName: string, params: number[], locals: number[], body: number[] }

const functions: FunctionDef[] = [
  { // axpy(dst, src, len, a): dst += a·src
    exportName: 'axpy',
    params: [I32, I32, I32, F32],
    locals: [I32, V128],
    body: [...get(3), ...SPLAT, ...set(5), ...endOf(1, 2, 4), ...loop(2, 1, 4, [
      ...get(0), ...get(0), ...load(), ...get(1), ...load(), ...get(5), ...MUL, ...ADD, ...store(), ...bump(0)
    ])]
  },
  { // axpyStats(dst, src, len, a, shift, stats): dst += a·src; per lane Σ(src − shift) and Σ(src − shift)² to stats
    exportName: 'axpyStats',
    params: [I32, I32, I32, F32, F32, I32],
    locals: [I32, V128, V128, V128, V128, V128, V128, V128], // 6 end, 7 a, 8 shift, 9 sum, 10 sq, 11 x, 12 a·x, 13 x − shift
    body: [...get(3), ...SPLAT, ...set(7), ...get(4), ...SPLAT, ...set(8), ...endOf(1, 2, 6), ...loop(2, 1, 6, [
      ...get(1), ...load(), ...tee(11), ...get(7), ...MUL, ...set(12),
      ...get(0), ...get(0), ...load(), ...get(12), ...ADD, ...store(),
      ...get(11), ...get(8), ...SUB, ...tee(13), ...get(9), ...ADD, ...set(9),
      ...get(13), ...get(13), ...MUL, ...get(10), ...ADD, ...set(10),
      ...bump(0)
    ]), ...get(5), ...get(9), ...store(0), ...get(5), ...get(10), ...store(16)]
  },
  { // axpyStats2(dst, src0, src1, len, a0, a1, shift0, shift1, stats): axpyStats for two inputs in one pass
    exportName: 'axpyStats2',
    params: [I32, I32, I32, I32, F32, F32, F32, F32, I32],
    // 9 end, 10 a0, 11 a1, 12 shift0, 13 shift1, 14 sum0, 15 sq0, 16 sum1, 17 sq1, 18 x0, 19 x1, 20 d
    locals: [I32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128],
    body: [...get(4), ...SPLAT, ...set(10), ...get(5), ...SPLAT, ...set(11), ...get(6), ...SPLAT, ...set(12), ...get(7), ...SPLAT, ...set(13),
      ...endOf(1, 3, 9), ...loop(3, 1, 9, [
        ...get(1), ...load(), ...set(18), ...get(2), ...load(), ...set(19),
        ...get(0), ...get(0), ...load(), ...get(18), ...get(10), ...MUL, ...ADD, ...get(19), ...get(11), ...MUL, ...ADD, ...store(),
        ...get(18), ...get(12), ...SUB, ...tee(20), ...get(14), ...ADD, ...set(14),
        ...get(20), ...get(20), ...MUL, ...get(15), ...ADD, ...set(15),
        ...get(19), ...get(13), ...SUB, ...tee(20), ...get(16), ...ADD, ...set(16),
        ...get(20), ...get(20), ...MUL, ...get(17), ...ADD, ...set(17),
        ...bump(0), ...bump(2)
      ]), ...get(8), ...get(14), ...store(0), ...get(8), ...get(15), ...store(16), ...get(8), ...get(16), ...store(32), ...get(8), ...get(17), ...store(48)]
  },
  { // sumSquares(src, len, shift, stats): per lane Σ(src − shift) and Σ(src − shift)² to stats
    exportName: 'sumSquares',
    params: [I32, I32, F32, I32],
    locals: [I32, V128, V128, V128, V128], // 4 end, 5 shift, 6 sum, 7 sq, 8 src − shift
    body: [...get(2), ...SPLAT, ...set(5), ...endOf(0, 1, 4), ...loop(1, 0, 4, [
      ...get(0), ...load(), ...get(5), ...SUB, ...tee(8), ...get(6), ...ADD, ...set(6),
      ...get(8), ...get(8), ...MUL, ...get(7), ...ADD, ...set(7)
    ]), ...get(3), ...get(6), ...store(0), ...get(3), ...get(7), ...store(16)]
  },
  { // compareExchange(low, high, len): low = min, high = max, element-wise; equal values never swap
    exportName: 'compareExchange',
    params: [I32, I32, I32],
    locals: [I32, V128, V128], // 3 end, 4 low value, 5 high value
    body: [...endOf(0, 2, 3), ...loop(2, 0, 3, [
      ...get(0), ...load(), ...set(4), ...get(1), ...load(), ...set(5),
      ...get(0), ...get(4), ...get(5), ...PMIN, ...store(),
      ...get(1), ...get(5), ...get(4), ...PMAX, ...store(),
      ...bump(1)
    ])]
  },
  { // midpoint(dst, a, b, len): dst = a/2 + b/2, exact halves so the sum cannot overflow
    exportName: 'midpoint',
    params: [I32, I32, I32, I32],
    locals: [I32, V128], // 4 end, 5 one half
    body: [...f32(0.5), ...SPLAT, ...set(5), ...endOf(0, 3, 4), ...loop(3, 0, 4, [
      ...get(0), ...get(1), ...load(), ...get(5), ...MUL, ...get(2), ...load(), ...get(5), ...MUL, ...ADD, ...store(),
      ...bump(1), ...bump(2)
    ])]
  }
]

function assemble (): Uint8Array<ArrayBuffer> {
  const types = functions.map(f => [0x60, ...vec(f.params.map(p => [p])), 0])
  const exports = [[...name('memory'), 0x02, 0], ...functions.map((f, i) => [...name(f.exportName), 0x00, ...uleb(i)])]
  const bodies = functions.map(f => {
    const code = [...vec(f.locals.map(t => [1, t])), ...f.body, ...END]
    return [...uleb(code.length), ...code]
  })
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies))
  ])
}

/** The SIMD loops, and the memory they work in. */
export interface SimdModule {
  memory: WebAssembly.Memory
  axpy: (dst: number, src: number, len: number, a: number) => void
  axpyStats: (dst: number, src: number, len: number, a: number, shift: number, stats: number) => void
  axpyStats2: (dst: number, src0: number, src1: number, len: number, a0: number, a1: number, shift0: number, shift1: number, stats: number) => void
  sumSquares: (src: number, len: number, shift: number, stats: number) => void
  compareExchange: (low: number, high: number, len: number) => void
  midpoint: (dst: number, a: number, b: number, len: number) => void
}

let loaded: SimdModule | null | undefined

/** The SIMD module, compiled on first use; undefined where WebAssembly SIMD cannot run. */
export function loadSimd (): SimdModule | undefined {
  if (loaded === undefined) {
    try {
      const bytes = assemble()
      loaded = typeof WebAssembly === 'object' && WebAssembly.validate(bytes)
        ? new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as SimdModule
        : null
    } catch {
      loaded = null
    }
  }
  return loaded ?? undefined
}
