import SparseSkeleton

/// Every kernel of one device: compiles each (source, options) once through NVRTC and the disk
/// cache, loads each resulting module once, and hands out kernels by entry name. The dynamic
/// shared-memory limit is raised per function when a launch needs more, so one module serves
/// every size. Attention, fill, both estimators, the model kernels and the C ABI share one.
///
/// `sources` maps a file name to its text: this target's embedded kernels by default; another
/// target (the model's) adds its own with `register(sources:)`.
public final class KernelLibrary: @unchecked Sendable {
    public let device: GPUDevice
    public let compiler: KernelCompiler
    /// Modules loaded so far (one per distinct (source, defines)); checks read it.
    public var moduleLoads: Int { modules.loads }
    private var sources: [String: String]
    private var modules = ModuleCache<GPUModule>()
    private var functions: [FunctionKey: GPUFunction] = [:]
    private var kernels: [KernelKey: GPUKernel] = [:]

    struct FunctionKey: Hashable { let module: ModuleKey; let entry: String }
    struct KernelKey: Hashable { let function: FunctionKey; let threads: Int; let sharedBytes: Int }

    public init(device: GPUDevice, compiler: KernelCompiler) {
        self.device = device; self.compiler = compiler
        sources = KernelSources.files.filter { $0.key.hasSuffix(".cu") }
    }

    /// Adds kernel sources (file name → text) of another target; a name already present must
    /// carry the same text.
    public func register(sources extra: [String: String]) throws {
        for (name, text) in extra where name.hasSuffix(".cu") {
            if let old = sources[name], old != text { throw CUDAError.unsupported("two different kernel sources are named \(name)") }
            sources[name] = text
        }
    }

    /// The kernel `entry` of `file` compiled with `defines`; `threads` and `sharedBytes` are its
    /// default launch shape.
    public func kernel(_ entry: String, file: String, defines: [String: String] = [:], threads: Int, sharedBytes: Int = 0) throws -> GPUKernel {
        let fk = FunctionKey(module: ModuleKey(file: file, defines: defines), entry: entry)
        let kk = KernelKey(function: fk, threads: threads, sharedBytes: sharedBytes)
        if let k = kernels[kk] { return k }
        let function: GPUFunction
        if let f = functions[fk] { function = f } else {
            function = try GPUFunction(module: module(fk.module), entry: entry)
            functions[fk] = function
        }
        let k = try GPUKernel(function: function, threads: threads, sharedBytes: sharedBytes)
        kernels[kk] = k
        return k
    }

    private func module(_ key: ModuleKey) throws -> GPUModule {
        try modules.module(key) {
            try GPUModule(device: device, compiled: Self.compile(compiler: compiler, file: key.file, source: source(key.file),
                                                                 arch: device.arch, defines: key.defines))
        }
    }

    private func source(_ file: String) throws -> String {
        guard let s = sources[file] else {
            throw CUDAError.unsupported("kernel source \(file) is not in this library (known: \(sources.keys.sorted().joined(separator: ", ")))")
        }
        return s
    }

    /// One compile, named after the file and its variant ("skeleton_fit.cu[SK_HEAD_DIM=128]").
    public static func compile(compiler: KernelCompiler, file: String, source: String, arch: String,
                               defines: [String: String]) throws -> CompiledKernel {
        let variant = defines.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let stem = file.hasSuffix(".cu") ? String(file.dropLast(3)) : file
        return try compiler.compile(name: stem + (variant.isEmpty ? "" : "[\(variant)]"), source: source, fileName: file,
                                    arch: arch, defines: defines)
    }
}

/// What identifies a module: the source file and the compile-time defines.
public struct ModuleKey: Hashable, Sendable {
    public let file: String
    public let defines: [String: String]
    public init(file: String, defines: [String: String]) { self.file = file; self.defines = defines }
}

/// Makes each module once per key and counts how many it made (the library's load-once rule).
public struct ModuleCache<Module> {
    public private(set) var loads = 0
    private var modules: [ModuleKey: Module] = [:]
    public init() {}

    public mutating func module(_ key: ModuleKey, make: () throws -> Module) rethrows -> Module {
        if let m = modules[key] { return m }
        let m = try make()
        modules[key] = m
        loads += 1
        return m
    }
}
