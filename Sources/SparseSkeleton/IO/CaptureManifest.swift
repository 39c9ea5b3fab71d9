import Foundation

/// What a capture folder holds, written as its `meta.json` by `skeleton capture` after every layer
/// file, and sealed by the completion marker `COMPLETE` ("sha256 <digest of meta.json>"), written
/// last. A folder without a marker that matches its manifest is not a finished capture.
public struct CaptureManifest: Codable, Equatable, Sendable {
    public static let formatName = "sparseskeleton-capture"
    public static let currentVersion = 2
    public static let fileName = "meta.json"
    public static let markerName = "COMPLETE"

    public var format = CaptureManifest.formatName
    public var formatVersion = CaptureManifest.currentVersion
    /// Window length N: every layer file holds N rows.
    public var tokens: Int
    public var capturedLayers: [Int]
    public var queryHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// The model: file name, digest of its bytes, layer count.
    public var model: String
    public var modelSHA256: String
    public var layers: Int
    /// The text: as named on the command line, digest of its bytes, first character taken.
    public var text: String
    public var textSHA256: String
    public var startChar: Int
    public var tokenIDs: [Int]
    public var bosFirst = true
    public var bosTokenID: Int
    public var ropeBase: Double
    /// Every layer file's size in bytes, by file name.
    public var fileBytes: [String: Int] = [:]
    public var gqa = "query head h uses kv head h // (query_heads / kv_heads)"
    public var ropeConvention = "half-split (NeoX / Hugging Face): dim i pairs with i + head_dim/2, angle = pos * base^(-2i/head_dim); GGUF's Q/K row permutation undone; q.k/sqrt(head_dim) = true logits"
    public var dtype = "float32 little-endian, C order, .npy v1.0"
    public var files = "layer<LL>_{q,k,v}.npy, shapes [N, query_heads, head_dim] / [N, kv_heads, head_dim]"
    public var producer = "skeleton capture (Swift prefill, dense attention)"
    public var created = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
    /// The model's architecture, its position interpolation (PI ×k, 1 = none) and each captured
    /// layer's attention spec (window, scale); absent in manifests written before they were recorded.
    public var architecture: String? = nil
    public var positionInterpolation: Int? = nil
    public var layerSpecs: [String]? = nil

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", tokens, capturedLayers = "captured_layers", queryHeads = "query_heads"
        case kvHeads = "kv_heads", headDim = "head_dim", model, modelSHA256 = "model_sha256", layers, text
        case textSHA256 = "text_sha256", startChar = "start_char", tokenIDs = "token_ids", bosFirst = "bos_first"
        case bosTokenID = "bos_token_id", ropeBase = "rope_base", fileBytes = "file_bytes", gqa, ropeConvention = "rope_convention"
        case dtype, files, producer, created, architecture, positionInterpolation = "position_interpolation", layerSpecs = "layer_specs"
    }

    public init(tokens: Int, capturedLayers: [Int], queryHeads: Int, kvHeads: Int, headDim: Int, model: String, modelSHA256: String,
                layers: Int, text: String, textSHA256: String, startChar: Int, tokenIDs: [Int], bosTokenID: Int, ropeBase: Double) {
        self.tokens = tokens; self.capturedLayers = capturedLayers; self.queryHeads = queryHeads; self.kvHeads = kvHeads
        self.headDim = headDim; self.model = model; self.modelSHA256 = modelSHA256; self.layers = layers; self.text = text
        self.textSHA256 = textSHA256; self.startChar = startChar; self.tokenIDs = tokenIDs; self.bosTokenID = bosTokenID
        self.ropeBase = ropeBase
    }

    /// The names of every file a layer has.
    public static func layerFiles(_ layer: Int) -> [String] { ["q", "k", "v"].map { String(format: "layer%02d_%@.npy", layer, $0) } }

    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }

    /// The marker that seals these manifest bytes.
    public static func marker(for manifestBytes: Data) -> String { "sha256 \(SHA256.hex(manifestBytes))\n" }

    /// Reads and checks a folder's manifest: marker present and matching, known format, every listed
    /// file present with its recorded size. Errors say which of these failed.
    public static func verified(folder: String) throws -> CaptureManifest {
        let metaPath = folder + "/" + fileName, markerPath = folder + "/" + markerName
        func bad(_ reason: String) -> SkeletonError {
            .invalidFileFormat(path: folder, reason: reason + "; run `skeleton capture` again to write a complete folder")
        }
        guard let marker = FileManager.default.contents(atPath: markerPath) else {
            throw bad("no completion marker \(markerName) (an interrupted capture, or one written by an older version)")
        }
        guard let meta = FileManager.default.contents(atPath: metaPath) else { throw bad("no manifest \(fileName)") }
        guard String(decoding: marker, as: UTF8.self) == Self.marker(for: meta) else {
            throw bad("the completion marker does not match \(fileName) (changed after the capture finished)")
        }
        let m: CaptureManifest
        do { m = try JSONDecoder().decode(CaptureManifest.self, from: meta) } catch { throw bad("\(fileName) is not a capture manifest (\(error))") }
        guard m.format == formatName, m.formatVersion == currentVersion else {
            throw bad("\(fileName) has format \(m.format) version \(m.formatVersion); this reader knows \(formatName) version \(currentVersion)")
        }
        guard !m.capturedLayers.isEmpty, m.tokens > 0, Set(m.capturedLayers).count == m.capturedLayers.count else {
            throw bad("\(fileName) lists no layers, a repeated layer, or no tokens")
        }
        let expected = Set(m.capturedLayers.flatMap(layerFiles))
        guard Set(m.fileBytes.keys) == expected else { throw bad("\(fileName) lists files other than the captured layers' Q/K/V") }
        for name in expected.sorted() {
            let attrs = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)
            guard let size = attrs?[.size] as? Int else { throw bad("\(name) is missing") }
            guard size == m.fileBytes[name] else { throw bad("\(name) has \(size) bytes, the manifest says \(m.fileBytes[name] ?? 0)") }
        }
        return m
    }
}

extension CaptureManifest {
    /// Whether this manifest records exactly this request (`layers` nil: every layer of the model).
    public func matches(tokens: Int, layers requested: [Int]?, modelSHA256: String, textSHA256: String, startChar: Int) -> Bool {
        self.tokens == tokens && self.modelSHA256 == modelSHA256 && self.textSHA256 == textSHA256 && self.startChar == startChar
            && capturedLayers == (requested ?? Array(0..<layers))
    }
}
