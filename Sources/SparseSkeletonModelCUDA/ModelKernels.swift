import SparseSkeleton
import SparseSkeletonCUDA

/// The model's element-wise kernels (ModelKernelSource), compiled once for the device and
/// launched with their argument lists spelled out in one place.
public final class ModelKernels: @unchecked Sendable {
    let embed: GPUKernel, rmsNorm: GPUKernel, ropeSplit: GPUKernel, swiglu: GPUKernel
    static let threads = 256

    /// Compiles every entry of the model source for `arch` (no GPU needed); used by the CI test.
    public static func compileAll(compiler: KernelCompiler, arch: String) throws -> [CompiledKernel] {
        try ModelKernelSource.entries.map {
            try compiler.compile(name: "model[\($0)]", entry: $0, source: ModelKernelSource.text, arch: arch, defines: [:])
        }
    }

    public init(device: GPUDevice, compiler: KernelCompiler) throws {
        let compiled = try Self.compileAll(compiler: compiler, arch: device.arch)
        func load(_ i: Int) throws -> GPUKernel { try GPUKernel(device: device, compiled: compiled[i], threads: Self.threads, sharedBytes: 0) }
        embed = try load(0); rmsNorm = try load(1); ropeSplit = try load(2); swiglu = try load(3)
    }

    static func blocks(_ count: Int) -> Int { (count + threads - 1) / threads }

    func embed(ids: DeviceBuffer, table: DeviceBuffer, x: DeviceBuffer, tokens: Int, width: Int, vocab: Int, stream: GPUStream) throws {
        try embed.launch(grid: (tokens, 1, 1), stream: stream, args: [
            .buffer(ids), .buffer(table), .buffer(x), .int32(Int32(tokens)), .int32(Int32(width)), .int32(Int32(vocab))])
    }

    /// y[0..<rows] = RMSNorm(x[firstRow ..< firstRow + rows]) · gain, as bf16.
    func rmsNorm(x: DeviceBuffer, gain: DeviceBuffer, y: DeviceBuffer, rows: Int, width: Int, epsilon: Float,
                 firstRow: Int = 0, stream: GPUStream) throws {
        try rmsNorm.launch(grid: (rows, 1, 1), stream: stream, args: [
            .buffer(x), .buffer(gain), .buffer(y), .int32(Int32(rows)), .int32(Int32(width)), .float(epsilon), .int32(Int32(firstRow))])
    }

    func ropeSplit(qkv: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                   tokens: Int, heads: Int, kvHeads: Int, headDim: Int, stream: GPUStream) throws {
        let count = tokens * (heads + 2 * kvHeads) * headDim / 2
        try ropeSplit.launch(grid: (Self.blocks(count), 1, 1), stream: stream, args: [
            .buffer(qkv), .buffer(cos), .buffer(sin), .buffer(q), .buffer(k), .buffer(v),
            .int32(Int32(tokens)), .int32(Int32(heads)), .int32(Int32(kvHeads)), .int32(Int32(headDim))])
    }

    func swiglu(gateUp: DeviceBuffer, out: DeviceBuffer, tokens: Int, feedForward: Int, stream: GPUStream) throws {
        try swiglu.launch(grid: (Self.blocks(tokens * feedForward), 1, 1), stream: stream, args: [
            .buffer(gateUp), .buffer(out), .int32(Int32(tokens)), .int32(Int32(feedForward))])
    }
}
