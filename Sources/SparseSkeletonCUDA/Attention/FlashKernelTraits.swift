import SparseSkeleton

/// The compile-time shape of one block-sparse FlashAttention kernel (sparse_flash_attention.cu),
/// kept apart from the algorithm so a head dim / tile size gets its own tuning.
///
/// Two kernel families share the source and entry point (`SK_WGMMA`):
/// - `.mma`: FA2-style mma.sync kernel, any sm_80+ GPU. Each warp owns `warpTiles` 16-row MMA
///   tiles (warps = blockM / (16 · warpTiles)); shared memory Q + one K + one V tile:
///   (blockM + 2 · blockN) · d · 2 bytes.
/// - `.wgmma`: Hopper (sm_90a) warpgroup-MMA kernel, one warpgroup (4 warps) per 64 query rows,
///   `stages` (2–4) K/V tiles resident or in flight; `persistent` = a grid of resident CTAs walking
///   (query block, head) items longest first, loading the next item's Q and first tiles while the
///   current item runs (two Q buffers). Shared memory (qBuffers · blockM + 2 · stages · blockN) ·
///   d · 2 + 1024 (alignment) bytes.
/// - `.hopper`: the warp-specialized Hopper kernel (flash_attention_hopper.cu): a TMA producer warp,
///   two consumer warpgroups of 64 rows (blockM 128) in ping-pong, a persistent grid; `stages` K/V
///   stages and `qBuffers` Q buffers (two where they fit). Shared memory (qBuffers · 128 + 2 · stages ·
///   blockN) · d · 2 + 1024 bytes. Needs sm_90a and a driver with TMA tensor maps. `pairedKeyTiles`
///   (a mask of 64-key tiles, d ≤ 128): each step computes two of a row's kept tiles as one 128-key
///   S tile, so the stages are 128 keys wide (the shared-memory formula with blockN 128).
/// `blockM` × `blockN` must equal the mask's query × key tile (the CSR indexes those tiles).
public struct FlashKernelTraits: Hashable, Sendable, CustomStringConvertible {
    public enum Family: String, Sendable { case mma, wgmma, hopper }

    public let headDim: Int
    public let blockM: Int
    public let blockN: Int
    public let warpTiles: Int
    public let minBlocksPerSM: Int
    public let dtype: DType
    public let family: Family
    public let persistent: Bool
    public let stages: Int
    /// The hopper kernel's epilogue: O staged in shared memory and written by TMA stores (true where the two
    /// 64-row staging buffers fit), else stored from registers. False for the other families.
    public let tmaStore: Bool
    /// The hopper kernel computes two of the mask's 64-key tiles per step (a 128-key S tile); false elsewhere.
    public let pairedKeyTiles: Bool
    /// The hopper kernel issues the next item's first S with this item's last P V (its latency hidden behind the
    /// epilogue). Off by default: measured 2–9 % slower (bench/NOTES.md v5.4); false for the other families.
    public let itemOverlap: Bool
    /// The hopper kernel's FP8 build: Q, K, V in e4m3 with per-head scales (FP8AttentionInputs), O in `dtype`.
    /// d 128 and 128-key tiles only; false for the other families.
    public let fp8: Bool
    /// FP8 build: of every 8 accumulator tiles of S, how many take 2^x on the FMA pipe instead of the MUFU unit
    /// (0–8; the softmax's exponentials are what FP8's faster MMAs leave exposed). 0 elsewhere.
    public let fmaExp: Int

    /// Shared memory a block may take on the H100 / H200 (227 KiB).
    public static let hopperSharedLimit = 227 * 1024

    public init(headDim: Int, blockM: Int, blockN: Int, warpTiles: Int = 1, minBlocksPerSM: Int = 1, dtype: DType,
                family: Family = .mma, persistent: Bool = false, stages: Int = 2, tmaStore: Bool? = nil,
                pairedKeyTiles: Bool = false, itemOverlap: Bool? = nil, fp8: Bool = false, fmaExp: Int = 0) throws {
        guard SkeletonError.supportedHeadDims.contains(headDim) else { throw SkeletonError.unsupportedHeadDim(headDim) }
        guard dtype != .f32 else { throw CUDAError.unsupported("the attention kernel takes f16 or bf16 tensors, not f32") }
        for t in [blockM, blockN] where !SkeletonError.supportedTileSizes.contains(t) { throw SkeletonError.unsupportedTileSize(t) }
        switch family {
        case .mma:
            guard [1, 2].contains(warpTiles), blockM % (16 * warpTiles) == 0 else {
                throw CUDAError.unsupported("warpTiles \(warpTiles) with blockM \(blockM)")
            }
            guard !persistent, stages == 2 else { throw CUDAError.unsupported("the mma.sync kernel has no persistent grid and one K/V stage pair") }
        case .wgmma:
            guard warpTiles == 1, [64, 128].contains(blockM), [64, 128].contains(blockN), [64, 128, 256].contains(headDim), (2...4).contains(stages) else {
                throw CUDAError.unsupported("wgmma kernel: blockM and blockN 64 or 128, d 64/128/256, one tile per warpgroup, 2–4 stages")
            }
        case .hopper:
            guard warpTiles == 1, minBlocksPerSM == 1, blockM == 128, [64, 128].contains(blockN), [64, 128, 256].contains(headDim), (2...4).contains(stages) else {
                throw CUDAError.unsupported("hopper kernel: blockM 128, blockN 64 or 128, d 64/128/256, 2–4 stages, one block per SM")
            }
            // the consumers hold O (d/2 floats), S and P (3/4 · blockN) per thread within 232 registers
            guard headDim < 256 || blockN == 64 else { throw CUDAError.unsupported("hopper kernel: d = 256 takes 64-key tiles (registers)") }
            guard !pairedKeyTiles || (blockN == 64 && headDim <= 128) else {
                throw CUDAError.unsupported("hopper kernel: paired key tiles need a 64-key mask tile and d ≤ 128 (registers)")
            }
        }
        guard !pairedKeyTiles || family == .hopper else { throw CUDAError.unsupported("paired key tiles are the hopper kernel's") }
        self.pairedKeyTiles = pairedKeyTiles
        guard itemOverlap != true || family == .hopper else { throw CUDAError.unsupported("the item overlap is the hopper kernel's") }
        self.itemOverlap = itemOverlap ?? false
        guard !fp8 || (family == .hopper && headDim == 128 && blockN == 128 && !pairedKeyTiles && itemOverlap != true) else {
            throw CUDAError.unsupported("FP8 attention: the hopper kernel with d 128 and 128-key tiles, unpaired, no item overlap")
        }
        self.fp8 = fp8
        guard (0...8).contains(fmaExp), fmaExp == 0 || fp8 else { throw CUDAError.unsupported("fmaExp \(fmaExp): 0–8, FP8 builds only") }
        self.fmaExp = fmaExp
        self.headDim = headDim; self.blockM = blockM; self.blockN = blockN
        self.warpTiles = warpTiles; self.minBlocksPerSM = minBlocksPerSM; self.dtype = dtype
        self.family = family; self.persistent = persistent || family == .hopper; self.stages = stages
        // the hopper kernel stages O where the two buffers fit beside the rings, unless asked otherwise
        let stepKeys = pairedKeyTiles ? 2 * blockN : blockN
        let fits = family == .hopper && Self.hopperRingBytes(headDim: headDim, blockN: stepKeys, stages: stages, elementBytes: fp8 ? 1 : 2)
            + 2 * 64 * headDim * 2 <= Self.hopperSharedLimit
        if tmaStore == true && !fits {
            throw CUDAError.unsupported("no room for the hopper kernel's O staging buffers at d \(headDim), 128x\(blockN), \(stages) stages (\(family.rawValue))")
        }
        self.tmaStore = tmaStore ?? fits
        if family != .mma, sharedBytes > Self.hopperSharedLimit {
            throw CUDAError.unsupported("\(family.rawValue) kernel \(self) needs \(sharedBytes) B shared memory (limit \(Self.hopperSharedLimit))")
        }
    }

    /// The hopper kernel for these tiles with as many K/V stages (≤ 4) as fit beside two Q buffers,
    /// else beside one; nil when none fits.
    public static func hopper(headDim: Int, blockN: Int, dtype: DType, tmaStore: Bool? = nil, paired: Bool = false,
                              itemOverlap: Bool = false, fp8: Bool = false, fmaExp: Int = 0) -> FlashKernelTraits? {
        let fitting = [4, 3, 2].compactMap {
            try? FlashKernelTraits(headDim: headDim, blockM: 128, blockN: blockN, dtype: dtype, family: .hopper, stages: $0, tmaStore: tmaStore,
                                   pairedKeyTiles: paired, itemOverlap: itemOverlap, fp8: fp8, fmaExp: fmaExp)
        }
        return fitting.first(where: { $0.qBuffers == 2 }) ?? fitting.first
    }

    /// Q buffers of the hopper kernel: two (the next item's Q loads during the current one) where
    /// they fit beside the K/V stages, else one; 1 for the other families' accounting.
    public var qBuffers: Int {
        guard family == .hopper else { return persistent ? 2 : 1 }
        return Self.hopperQBuffers(headDim: headDim, blockN: stepKeys, stages: stages, elementBytes: fp8 ? 1 : 2)
    }
    static func hopperQBuffers(headDim: Int, blockN: Int, stages: Int, elementBytes: Int) -> Int {
        (2 * 128 + 2 * stages * blockN) * headDim * elementBytes + 1024 <= hopperSharedLimit ? 2 : 1
    }
    /// The hopper kernel's Q buffers and K/V stages (and alignment slack), without the O staging.
    static func hopperRingBytes(headDim: Int, blockN: Int, stages: Int, elementBytes: Int) -> Int {
        (hopperQBuffers(headDim: headDim, blockN: blockN, stages: stages, elementBytes: elementBytes) * 128 + 2 * stages * blockN) * headDim * elementBytes + 1024
    }

    /// Keys per step of the kernel's main loop (two mask tiles when paired).
    public var stepKeys: Int { pairedKeyTiles ? 2 * blockN : blockN }

    /// The source file and entry point of this family.
    public var sourceFile: String { family == .hopper ? "flash_attention_hopper.cu" : "sparse_flash_attention.cu" }
    public var entry: String { family == .hopper ? "flash_fwd_hopper" : "sparse_flash_fwd" }

    /// The default kernel for a mask geometry (the measurements behind it: bench/NOTES.md):
    /// - d ≤ 128 with 128-row tiles: the wgmma kernel; d = 128 persistent with as many K/V stages
    ///   (≤ 4) as fit (dense 380 TFLOP/s at 32K, the best sparse rates); d = 64 one item per CTA,
    ///   2 CTAs per SM (≤ 128 registers, no spills: 372 dense, where the persistent one ran 324);
    /// - d = 256: the wgmma kernel, one item per CTA, 2 stages (its two Q buffers do not fit);
    /// - anything the wgmma kernel cannot take (d = 256 at 128×128) the mma.sync kernel.
    /// `SK_FLASH_KERNEL` (environment) overrides, for side-by-side timing in one run: `mma` (the
    /// mma.sync kernel), `wgmma` (one item per CTA, 2 stages), `wgmma-s2` (persistent, 2 stages). On a
    /// GPU without wgmma (not sm_90a) `SparseFlashAttention` runs `portable` instead.
    public static func `default`(headDim: Int, geometry: TileGeometry, dtype: DType) throws -> FlashKernelTraits {
        let mma = try mmaDefault(headDim: headDim, geometry: geometry, dtype: dtype)
        let choice = environment("SK_FLASH_KERNEL") ?? "auto"
        if choice == "mma" { return mma }
        // the warp-specialized TMA kernel for 128-row query tiles, 64-key mask tiles computed in pairs where d ≤ 128
        // (bench/NOTES.md v5.2: at d 64 unpaired it ran slower than v4 with 2 CTAs per SM, paired 0.95–0.99× v4's time);
        // "hopper-unpaired" one mask tile per step; "v4" the previous default
        let pairable = geometry.keyTile == 64 && headDim <= 128
        if choice == "hopper" || (choice == "auto" && (headDim != 64 || pairable)), geometry.queryTile == 128,
           let h = hopper(headDim: headDim, blockN: geometry.keyTile, dtype: dtype, paired: pairable) { return h }
        if choice == "hopper-unpaired", geometry.queryTile == 128,
           let h = hopper(headDim: headDim, blockN: geometry.keyTile, dtype: dtype) { return h }
        if choice == "hopper-overlap", geometry.queryTile == 128,  // the next item's first S with the last P V (v5.4, slower)
           let h = hopper(headDim: headDim, blockN: geometry.keyTile, dtype: dtype, paired: pairable, itemOverlap: true) { return h }
        if choice == "hopper-regstore", geometry.queryTile == 128,  // the v5 epilogue, for side-by-side timing
           let h = hopper(headDim: headDim, blockN: geometry.keyTile, dtype: dtype, tmaStore: false) { return h }
        let capped = headDim == 64 && geometry.queryTile == 128 ? 2 : 1
        func wg(_ persistent: Bool, _ stages: [Int]) -> FlashKernelTraits? {
            for st in stages {
                guard let t = try? FlashKernelTraits(headDim: headDim, blockM: geometry.queryTile, blockN: geometry.keyTile,
                                                     minBlocksPerSM: capped, dtype: dtype, family: .wgmma, persistent: persistent, stages: st)
                else { continue }
                if t.sharedBytes * capped <= 228 * 1024 - 1024 * capped { return t }
            }
            return nil
        }
        switch choice {
        case "wgmma": return wg(false, [2]) ?? mma
        case "wgmma-s2": return wg(true, [2]) ?? wg(false, [2]) ?? mma
        default:
            if headDim == 64 && geometry.queryTile == 128 { return wg(false, [2]) ?? mma }
            return wg(true, [4, 3, 2]) ?? wg(false, [2]) ?? mma
        }
    }

    /// The mma.sync kernel's default: two 16-row tiles per warp for 128-row query tiles and d ≤ 128.
    public static func mmaDefault(headDim: Int, geometry: TileGeometry, dtype: DType) throws -> FlashKernelTraits {
        try mmaDefault(headDim: headDim, blockM: geometry.queryTile, blockN: geometry.keyTile, dtype: dtype)
    }

    static func mmaDefault(headDim: Int, blockM: Int, blockN: Int, dtype: DType) throws -> FlashKernelTraits {
        let twoTiles = blockM == 128 && headDim <= 128
        return try FlashKernelTraits(headDim: headDim, blockM: blockM, blockN: blockN, warpTiles: twoTiles ? 2 : 1, dtype: dtype)
    }

    /// The mma.sync kernel for the same tiles (what runs where wgmma does not exist).
    public var portable: FlashKernelTraits {
        if family == .mma { return self }  // wgmma and hopper both fall back to the mma.sync kernel
        return (try? FlashKernelTraits.mmaDefault(headDim: headDim, blockM: blockM, blockN: blockN, dtype: dtype)) ?? self
    }

    public var warps: Int {
        switch family {
        case .mma: return blockM / (16 * warpTiles)
        case .wgmma: return blockM / 64 * 4
        case .hopper: return 12  // a producer warpgroup and two consumer warpgroups
        }
    }
    public var threads: Int { warps * 32 }
    public var sharedBytes: Int {
        switch family {
        case .mma: return (blockM + 2 * blockN) * headDim * 2
        case .wgmma: return ((persistent ? 2 : 1) * blockM + 2 * stages * blockN) * headDim * 2 + 1024
        case .hopper:
            return Self.hopperRingBytes(headDim: headDim, blockN: stepKeys, stages: stages, elementBytes: fp8 ? 1 : 2) + (tmaStore ? 2 * 64 * headDim * 2 : 0)
        }
    }

    public var defines: [String: String] {
        var d = ["SK_HEAD_DIM": "\(headDim)", "SK_BLOCK_M": "\(blockM)", "SK_BLOCK_N": "\(blockN)",
                 "SK_MIN_BLOCKS": "\(minBlocksPerSM)", "SK_BF16": dtype == .bf16 ? "1" : "0"]
        switch family {
        case .mma: d["SK_WARP_MT"] = "\(warpTiles)"
        case .wgmma: d["SK_WGMMA"] = "1"; d["SK_PERSISTENT"] = persistent ? "1" : "0"; d["SK_STAGES"] = "\(stages)"
        case .hopper:
            d["SK_STAGES"] = "\(stages)"; d["SK_Q_BUFFERS"] = "\(qBuffers)"; d["SK_TMA_STORE"] = tmaStore ? "1" : "0"; d["SK_MIN_BLOCKS"] = nil
            d["SK_PAIR_TILES"] = pairedKeyTiles ? "1" : "0"; d["SK_ITEM_OVERLAP"] = itemOverlap ? "1" : "0"
            if fp8 { d["SK_FP8"] = "1" }
            if fmaExp > 0 { d["SK_FMA_EXP"] = "\(fmaExp)" }
        }
        return d
    }

    public var description: String {
        switch family {
        case .mma:
            return "\(dtype.rawValue) d\(headDim) \(blockM)x\(blockN) \(warps)w mt\(warpTiles)" + (minBlocksPerSM > 1 ? " minB\(minBlocksPerSM)" : "")
        case .wgmma:
            return "wgmma \(dtype.rawValue) d\(headDim) \(blockM)x\(blockN) \(warps)w" + (persistent ? " persistent" : "") + (stages != 2 ? " s\(stages)" : "")
                + (minBlocksPerSM > 1 ? " minB\(minBlocksPerSM)" : "")
        case .hopper:
            return "hopper \(dtype.rawValue) d\(headDim) \(blockM)x\(blockN)" + (pairedKeyTiles ? " paired" : "") + " s\(stages) q\(qBuffers)"
                + (tmaStore ? " tma-store" : "") + (itemOverlap ? " overlap" : "") + (fp8 ? " fp8" : "") + (fmaExp > 0 ? " fma-exp \(fmaExp)/8" : "")
        }
    }

    /// Every variant the CLI runs and CI compiles: both dtypes × every head dim × the 64×64 and
    /// 128×64 tiles (and the two-tiles-per-warp default for d ≤ 128), plus, for bf16 d = 128, the
    /// 128×128 tile and the register-capped layouts (2 or 3 resident blocks per SM); and the wgmma
    /// kernel for both dtypes × every head dim × both tiles, plain and persistent where it fits,
    /// plus bf16 d = 128 at 128×128 and with a 2-blocks-per-SM register cap, and the d = 64 default
    /// (persistent, 2 blocks per SM).
    public static var ciVariants: [FlashKernelTraits] {
        var out: [FlashKernelTraits] = []
        for dt in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (m, n) in [(64, 64), (128, 64)] {
                    if let t = try? FlashKernelTraits(headDim: d, blockM: m, blockN: n, dtype: dt) { out.append(t) }
                }
                if d <= 128, let t = try? FlashKernelTraits(headDim: d, blockM: 128, blockN: 64, warpTiles: 2, dtype: dt) { out.append(t) }
            }
        }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16) { out.append(t) }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16) { out.append(t) }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, minBlocksPerSM: 3, dtype: .bf16) { out.append(t) }
        for dt in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (m, n) in [(64, 64), (128, 64)] {
                    for p in [false, true] {
                        if let t = try? FlashKernelTraits(headDim: d, blockM: m, blockN: n, dtype: dt, family: .wgmma, persistent: p) { out.append(t) }
                    }
                }
            }
        }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16, family: .wgmma) { out.append(t) }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .wgmma) { out.append(t) }
        for dt in [DType.bf16, .f16] {  // the warp-specialized TMA kernel: every head dim, both key tiles where it takes them
            for d in [64, 128, 256] {
                for bn in [64, 128] { if let t = hopper(headDim: d, blockN: bn, dtype: dt) { out.append(t) } }
                if d == 128, let t = hopper(headDim: d, blockN: 64, dtype: dt, tmaStore: false) { out.append(t) }
                if d <= 128, let t = hopper(headDim: d, blockN: 64, dtype: dt, paired: true) { out.append(t) }
                if d == 128, let t = hopper(headDim: d, blockN: 64, dtype: dt, paired: true, itemOverlap: true) { out.append(t) }
                if d == 128, let t = hopper(headDim: d, blockN: 128, dtype: dt, fp8: true) { out.append(t) }
                if d == 128, let t = hopper(headDim: d, blockN: 128, dtype: dt, fp8: true, fmaExp: 3) { out.append(t) }
            }
        }
        for dt in [DType.bf16, .f16] {  // the defaults (hopper for 128-row tiles; 64-row tiles: 4-stage persistent wgmma, d = 64 capped at 2 blocks per SM)
            for d in [64, 128, 256] {
                for m in [64, 128] {
                    if let t = try? FlashKernelTraits.default(headDim: d, geometry: TileGeometry(tokens: 4096, queryTile: m, keyTile: 64), dtype: dt),
                       !out.contains(t) { out.append(t) }
                }
            }
        }
        return out
    }
}
