import Foundation

/// An RGB raster with lines, rectangles and pixel-font text, written as PNG.
public struct PlotCanvas {
    public let width: Int, height: Int
    public private(set) var rgb: [UInt8]
    public typealias Colour = (UInt8, UInt8, UInt8)

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        rgb = [UInt8](repeating: 255, count: width * height * 3)
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: Colour) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let o = (y * width + x) * 3
        rgb[o] = c.0; rgb[o + 1] = c.1; rgb[o + 2] = c.2
    }

    public mutating func fill(x: Int, y: Int, w: Int, h: Int, _ c: Colour) {
        for yy in y..<(y + h) { for xx in x..<(x + w) { set(xx, yy, c) } }
    }

    /// A line `thickness` pixels wide (square pen), by equal steps along the longer axis.
    public mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Colour, thickness: Int = 1) {
        let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            let x = Int((x0 + t * (x1 - x0)).rounded()), y = Int((y0 + t * (y1 - y0)).rounded())
            fill(x: x - thickness / 2, y: y - thickness / 2, w: thickness, h: thickness, c)
        }
    }

    /// Text in the pixel font, `scale` pixels per font pixel; returns the width drawn.
    @discardableResult
    public mutating func text(_ s: String, x: Int, y: Int, scale: Int = 2, _ c: Colour = (0, 0, 0)) -> Int {
        var cx = x
        for ch in s.lowercased() {
            let rows = PixelFont.glyphs[ch] ?? [7, 5, 5, 5, 7]
            for (r, bits) in rows.enumerated() {
                for b in 0..<3 where bits & (4 >> b) != 0 { fill(x: cx + b * scale, y: y + r * scale, w: scale, h: scale, c) }
            }
            cx += 4 * scale
        }
        return cx - x
    }

    public static func textWidth(_ s: String, scale: Int = 2) -> Int { s.count * 4 * scale }

    public func write(to path: String) throws {
        let bytes = PNGEncoder.encode(width: width, height: height, rgb: rgb)
        try AtomicOutput.write(bytes, to: path)
    }
}
