import NIOCore

/// Many small pieces written into a ByteBuffer with one capacity check. ByteBuffer's own
/// `write…` calls each check capacity and uniqueness (about 150 instructions apiece), which
/// a response head or a worker's request frame of twenty pieces pays twenty times.
public struct PackedWriter {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let capacity: Int
    /// Bytes written so far.
    @usableFromInline internal(set) var written = 0
    public var count: Int { written }

    @usableFromInline init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inlinable public mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable public mutating func write(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ write(UnsafeRawBufferPointer($0)) }) == nil {
            for byte in text.utf8 { write(byte: byte) }
        }
    }

    @inlinable public mutating func write(_ text: Substring) {
        if text.utf8.withContiguousStorageIfAvailable({ write(UnsafeRawBufferPointer($0)) }) == nil {
            for byte in text.utf8 { write(byte: byte) }
        }
    }

    @inlinable public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        precondition(written + bytes.count <= capacity, "PackedWriter: more bytes than the capacity asked for")
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (base + written).copyMemory(from: source, byteCount: bytes.count)
        written += bytes.count
    }

    @inlinable public mutating func write(byte: UInt8) {
        precondition(written < capacity, "PackedWriter: more bytes than the capacity asked for")
        base.storeBytes(of: byte, toByteOffset: written, as: UInt8.self)
        written += 1
    }

    /// A decimal number (no sign for non-negative values).
    public mutating func write(decimal value: Int) {
        if value < 0 {
            write(byte: UInt8(ascii: "-"))
            return write(decimal: -value)  // Int.min cannot reach here: sizes and ports only
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: any Int's digits
        var remaining = value
        var length = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - length] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                length += 1
            } while remaining > 0
            write(UnsafeRawBufferPointer(rebasing: buffer[(24 - length)...]))
        }
    }
}

extension ByteBuffer {
    /// Appends what `body` writes, at most `capacity` bytes (more traps): one capacity check
    /// for all of it.
    @inlinable public mutating func writePacked(capacity: Int, _ body: (inout PackedWriter) -> Void) {
        guard capacity > 0 else { return }
        writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
            var writer = PackedWriter(base: raw.baseAddress!, capacity: capacity)
            body(&writer)
            return writer.count
        }
    }
}
